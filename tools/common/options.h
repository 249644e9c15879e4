// Option values shared by several commands, parsed the same way everywhere.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/command_line.h"
#include "pspf/append.h"
#include "pspf/log.h"
#include "pspf/topic.h"

namespace pspf::tool {

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

// The log the command line names: the Kafka cluster of -b/--brokers (with its -X
// settings), else the data directory of -d/--dir. Throws Error(usage) for -d with
// -b, a malformed -X, -X without -b (unless `x_for_target`: the -X settings are for
// open_target_cluster), or -b in a build without the Kafka backend.
std::unique_ptr<Log> open_log(const std::string& dir, bool x_for_target = false);
// The Kafka cluster `brokers` that pspf-replay --to-brokers copies to, with the -X
// settings.
std::unique_ptr<Log> open_target_cluster(const std::string& brokers);

// Checks with plain messages: a whole number >= 0, and one in [lo, hi].
cli::Check whole_number();
cli::Check whole_number_in(int64_t lo, int64_t hi);

}  // namespace pspf::tool
