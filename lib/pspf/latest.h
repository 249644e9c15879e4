// Latest: the table view of a topic, the latest record of each key, read from the log
// without compacting it (pspf-replay --latest), optionally as it was at a past time.
// Two passes over each partition, as compaction makes: the first notes the latest
// offset of every key (a KeyMap: memory grows with the keys, not the log), the second
// hands out the records found there. Keys whose latest record is a tombstone (value
// null) are deleted and left out; records without a key are not part of the table.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "pspf/batch.h"
#include "pspf/topic.h"

namespace pspf {

class LocalLog;

struct LatestOptions {
  std::vector<PartitionId> partitions;  // empty: all
  std::optional<Timestamp> as_of;       // only records appended at or before this time
};

// Calls fn for the latest record of each live key, partition by partition, in offset
// order, over the log up to its end when called. `fn`'s views are valid during the
// call. Throws Error(corrupt) on damage.
void for_each_latest(const LocalLog& log, const TopicConfig& t, const LatestOptions& o,
                     const std::function<void(PartitionId, const RecordView&)>& fn);

}  // namespace pspf
