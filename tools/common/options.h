// Option values shared by several commands, parsed the same way everywhere.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "pspf/partition.h"
#include "pspf/topic.h"

namespace pspf::tool {

// "none" | "batch" | "always". Throws Error(usage).
SyncMode parse_sync_mode(const std::string& s);

// Partition selections like {"0,2", "5"} -> {0, 2, 5}, each checked against the
// topic's partition count (Error(usage) when out of range). Empty -> all partitions.
std::vector<PartitionId> parse_partitions(const std::vector<std::string>& specs,
                                          const TopicConfig& topic);

// CLI11 checks with plain messages: a whole number >= 0, and one in [lo, hi].
CLI::Validator whole_number();
CLI::Validator whole_number_in(int64_t lo, int64_t hi);

}  // namespace pspf::tool
