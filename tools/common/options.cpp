#include "common/options.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "common/tool.h"
#include "pspf/error.h"
#ifdef PSPF_KAFKA
#include "pspf/kafka/kafka_log.h"
#endif
#include "pspf/parse_int.h"

namespace pspf::tool {

ExpectVersion parse_expect_version(std::string_view text) {
  if (text == "any") return ExpectVersion::any();
  if (text == "no_stream") return ExpectVersion::no_stream();
  if (text == "exists") return ExpectVersion::exists();
  std::optional<int64_t> v = parse_int<int64_t>(text);
  if (!v || *v < -1)
    throw Error(Errc::usage, fmt::format("invalid expected version '{}': expected any, no_stream, "
                                         "exists or a version number from -1",
                                         text));
  return ExpectVersion::exact(*v);
}

const std::map<std::string, SyncMode>& sync_modes() {
  static const std::map<std::string, SyncMode> modes{
      {"none", SyncMode::none}, {"batch", SyncMode::batch}, {"always", SyncMode::always}};
  return modes;
}

namespace {

bool parse_partition(std::string_view s, int32_t& out) {
  std::optional<int32_t> v = parse_int<int32_t>(s);
  out = v.value_or(-1);
  return out >= 0;
}

}  // namespace

std::vector<PartitionId> parse_partition_list(std::string_view list, const TopicConfig& topic,
                                              std::string_view what) {
  std::vector<PartitionId> out;
  std::string_view rest = list;
  for (;;) {
    std::string_view item = rest.substr(0, rest.find(','));
    size_t dash = item.find('-');
    int32_t lo = -1, hi = -1;
    if (!parse_partition(item.substr(0, dash), lo) ||
        !parse_partition(dash == std::string_view::npos ? item : item.substr(dash + 1), hi) ||
        hi < lo)
      throw Error(Errc::usage,
                  fmt::format("invalid {}: '{}' is not a partition or a range (0, 0,2 or 1-3)",
                              what, item));
    if (hi >= topic.partitions)
      throw Error(Errc::usage, fmt::format("invalid {}: topic {} has no partition {} (it has {})",
                                           what, topic.name, hi, topic.partitions));
    for (int32_t p = lo; p <= hi; ++p)
      if (std::find(out.begin(), out.end(), PartitionId(p)) == out.end())
        out.push_back(PartitionId(p));
    if (item.size() == rest.size()) break;
    rest.remove_prefix(item.size() + 1);
  }
  return out;
}

std::vector<PartitionId> parse_partitions(const std::vector<std::string>& specs,
                                          const TopicConfig& topic) {
  std::vector<PartitionId> out;
  for (const auto& spec : specs)
    for (PartitionId p : parse_partition_list(spec, topic, fmt::format("-p '{}'", spec)))
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  if (specs.empty())
    for (int32_t p = 0; p < topic.partitions; ++p) out.push_back(PartitionId(p));
  return out;
}

cli::Check whole_number_in(int64_t lo, int64_t hi) {
  return [lo, hi](const std::string& v) -> std::string {
    std::optional<int64_t> n = parse_int<int64_t>(v);
    if (!n || *n < lo || *n > hi)
      return fmt::format("'{}' is not a whole number from {} to {}", v, lo, hi);
    return {};
  };
}

cli::Check whole_number() {
  return [](const std::string& v) -> std::string {
    if (!parse_int<uint64_t>(v)) return fmt::format("'{}' is not a whole number of 0 or more", v);
    return {};
  };
}

namespace {

// The cluster `brokers` with the -X settings of the command line.
std::unique_ptr<Log> open_cluster(const std::string& brokers, std::string_view option) {
  const LogPlace& place = log_place();
#ifdef PSPF_KAFKA
  kafka::Settings s;
  s.brokers = brokers;
  if (s.brokers.empty())
    throw Error(Errc::usage, fmt::format("{}: no broker given (HOST:PORT[,...])", option));
  for (const auto& x : place.kafka_config) {
    size_t eq = x.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(Errc::usage, fmt::format("invalid -X '{}': expected NAME=VALUE", x));
    std::string name = x.substr(0, eq), value = x.substr(eq + 1);
    // pspf's own setting: how long to wait for the cluster before failing.
    if (name == "pspf.timeout.ms") {
      std::optional<int32_t> ms = parse_int<int32_t>(value);
      if (!ms || *ms < 1)
        throw Error(Errc::usage,
                    fmt::format("invalid -X '{}': a number of milliseconds of 1 or more", x));
      s.timeout_ms = *ms;
      continue;
    }
    s.config.emplace_back(std::move(name), std::move(value));
  }
  return open_kafka_log(std::move(s));
#else
  (void)place;
  throw Error(Errc::usage, fmt::format("{}: this build of pspf has no Kafka backend (build it "
                                       "with librdkafka-dev installed)",
                                       option));
#endif
}

}  // namespace

std::unique_ptr<Log> open_log(const std::string& dir, bool x_for_target) {
  const LogPlace& place = log_place();
  if (!on_kafka()) {
    if (!place.kafka_config.empty() && !x_for_target)
      throw Error(Errc::usage, "-X needs -b (a Kafka cluster)");
    return open_local_log(dir);
  }
  if (place.dir_given)
    throw Error(Errc::usage, "-d and -b name two different logs: give one of them");
  return open_cluster(*place.brokers, "-b");
}

std::unique_ptr<Log> open_target_cluster(const std::string& brokers) {
  return open_cluster(brokers, "--to-brokers");
}

}  // namespace pspf::tool
