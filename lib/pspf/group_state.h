// What a consumer group holds, whatever keeps it: each topic-partition's committed
// offset (with the epoch that fences old owners, and an announced batch), the live
// owner of a partition, and what one rebalance step changed for a member.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pspf/types.h"

namespace pspf {

struct Committed {
  Offset offset{-1};  // -1: claimed but never committed
  uint64_t epoch = 0;
  Timestamp when{0};
  std::string member;
  // An exactly-once batch announced but not yet committed (pspf-consume --to): the
  // last offset of the batch that starts at `offset`; -1 when there is none. It
  // counts only while it is >= offset.
  int64_t pending_last = -1;
};

using TopicPartition = std::pair<std::string, int32_t>;

// A live member that owns a partition.
struct OwnerInfo {
  std::string member;
  int64_t pid = 0;
  std::string host;
};

// What one rebalance step changed for a member.
struct RebalanceChange {
  std::vector<PartitionId> gained;
  std::vector<PartitionId> released;
};

}  // namespace pspf
