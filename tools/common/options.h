// Option values shared by several commands, parsed the same way everywhere.
#pragma once

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

}  // namespace pspf::tool
