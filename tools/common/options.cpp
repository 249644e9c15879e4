#include "common/options.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "pspf/error.h"

namespace pspf::tool {

SyncMode parse_sync_mode(const std::string& s) {
  if (s == "none") return SyncMode::none;
  if (s == "batch") return SyncMode::batch;
  if (s == "always") return SyncMode::always;
  throw Error(Errc::usage, fmt::format("invalid --sync '{}': expected none, batch or always", s));
}

std::vector<PartitionId> parse_partitions(const std::vector<std::string>& specs,
                                          const TopicConfig& topic) {
  std::vector<PartitionId> out;
  for (const auto& spec : specs) {
    size_t start = 0;
    while (start <= spec.size()) {
      size_t comma = spec.find(',', start);
      if (comma == std::string::npos) comma = spec.size();
      std::string_view part(spec.data() + start, comma - start);
      int32_t p = -1;
      auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), p);
      if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || p < 0)
        throw Error(Errc::usage, fmt::format("invalid partition '{}'", part));
      if (p >= topic.partitions)
        throw Error(Errc::usage, fmt::format("topic {} has no partition {} (it has {})",
                                             topic.name, p, topic.partitions));
      if (std::find(out.begin(), out.end(), PartitionId(p)) == out.end())
        out.push_back(PartitionId(p));
      start = comma + 1;
    }
  }
  if (specs.empty())
    for (int32_t p = 0; p < topic.partitions; ++p) out.push_back(PartitionId(p));
  return out;
}

CLI::Validator whole_number_in(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        int64_t n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi)
          return fmt::format("'{}' is not a whole number from {} to {}", v, lo, hi);
        return {};
      },
      "N");
}

CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        uint64_t n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || p != v.data() + v.size())
          return fmt::format("'{}' is not a whole number of 0 or more", v);
        return {};
      },
      "N");
}

}  // namespace pspf::tool
