// Option values shared by several commands, parsed the same way everywhere.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/append.h"
#include "pspf/log.h"
#include "pspf/topic.h"

namespace pspf::tool {

// A CLI11 transformer from the words of `words` to their enum values, with a plain
// message ("--sync: 'x' is not one of none, batch, always"). Use with
// ->transform() on an enum option, and ->type_name() to show the words in --help.
template <typename E>
CLI::Validator one_of(std::map<std::string, E> words) {
  std::string names;
  for (const auto& [w, e] : words) names += (names.empty() ? "" : ", ") + w;
  return CLI::Validator(
      [words = std::move(words), names](std::string& v) -> std::string {
        auto it = words.find(v);
        if (it == words.end()) return "'" + v + "' is not one of " + names;
        v = std::to_string(static_cast<int64_t>(it->second));
        return {};
      },
      "");
}
// --expect-version: any, no_stream, exists or a version number from -1 (-1 is
// no_stream). Throws Error(usage).
ExpectVersion parse_expect_version(std::string_view text);

// --sync's words.
const std::map<std::string, SyncMode>& sync_modes();

// The one partition-list grammar (pspf-replay -p, pspf-offsets --topic T:LIST):
// items separated by commas, each a partition number or a range "1-3". Partitions
// in the order first named, each once, each checked against the topic's partition
// count. Throws Error(usage) naming `what` ("-p", "--topic 'T:...'") for a bad list.
std::vector<PartitionId> parse_partition_list(std::string_view list, const TopicConfig& topic,
                                              std::string_view what);
// Selections like {"0,2", "5"} (an option given several times) -> {0, 2, 5}. Empty
// -> all partitions.
std::vector<PartitionId> parse_partitions(const std::vector<std::string>& specs,
                                          const TopicConfig& topic);

// CLI11 checks with plain messages: a whole number >= 0, and one in [lo, hi].
// The log the command line names: the Kafka cluster of -b/--brokers (with its -X
// settings), else the data directory of -d/--dir. Throws Error(usage) for -d with
// -b, a malformed -X, -X without -b (unless `x_for_target`: the -X settings are for
// open_target_cluster), or -b in a build without the Kafka backend.
std::unique_ptr<Log> open_log(const std::string& dir, bool x_for_target = false);
// The Kafka cluster `brokers` that pspf-replay --to-brokers copies to, with the -X
// settings.
std::unique_ptr<Log> open_target_cluster(const std::string& brokers);

CLI::Validator whole_number();
CLI::Validator whole_number_in(int64_t lo, int64_t hi);

}  // namespace pspf::tool
