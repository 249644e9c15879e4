// Compact: what pspf-compact does to a topic, partition by partition, by its cleanup
// policy (pspf-compact(1), pspf-log(5) COMPACTION):
//
//   delete   removes the oldest closed segments whose newest record is older than
//            the retention time, or that lie wholly beyond the newest retention
//            bytes of the partition;
//   compact  rewrites the closed segments old enough for the compaction lag,
//            keeping the latest record per key (see segment_cleaner.h), and removes
//            those left empty.
//
// The active segment is never touched (unless `roll` closes it first), so producers
// go on appending; readers go on reading (see segment_swap.h for the swap). Two
// compactions of one topic never run at once: each holds the topic's compaction
// lock. A compacted copy (`into`) writes a new topic in another data directory and
// leaves the source as it is.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pspf/segment_cleaner.h"
#include "pspf/segment_swap.h"
#include "pspf/topic.h"

namespace pspf {

class LocalLog;

struct CompactOptions {
  bool dry_run = false;             // change nothing; report what would be done
  bool roll = false;                // close each active segment first, so it is compacted too
  bool wait = true;                 // wait for a running compaction (else Error(busy))
  std::optional<std::string> into;  // write a compacted copy into this data directory
  std::optional<Timestamp> now;     // the time rules are measured against (tests)
  const volatile std::sig_atomic_t* stop = nullptr;
  // Called now and then with the partition label and the bytes done / to do.
  std::function<void(const std::string&, uint64_t, uint64_t)> progress;
};

struct PartitionReport {
  int32_t partition = 0;
  uint32_t segments = 0;            // in the partition, before
  uint32_t segments_cleaned = 0;    // examined by compaction
  uint32_t segments_rewritten = 0;  // replaced by a smaller copy
  uint32_t segments_emptied = 0;    // compaction left nothing: removed
  uint32_t segments_deleted = 0;    // removed by retention
  uint64_t bytes_cleaned = 0;       // size of the segments examined, before
  uint64_t bytes_after = 0;         // ... and after
  uint64_t records_cleaned = 0;
  uint64_t records_after = 0;
  uint64_t keys = 0;                // distinct keys in the segments examined
  uint64_t tombstones_dropped = 0;  // tombstones past the delete-retention horizon
  uint64_t bytes_deleted = 0;       // by retention
  uint64_t records_deleted = 0;
  Leftovers leftovers;  // of a compaction that died, finished now
  // Reclaimable share of the examined bytes (0 when none were examined).
  double dirty_ratio() const {
    return bytes_cleaned ? double(bytes_cleaned - bytes_after) / double(bytes_cleaned) : 0.0;
  }
};

struct TopicReport {
  std::string topic;
  CleanupPolicy policy;
  std::vector<PartitionReport> partitions;
};

// Compacts and/or applies retention to topic `t` of `log` as its policy says (a copy
// with `into` is always compacted, and retention applies as the policy says). Throws
// Error(busy) when another compaction of the topic runs and !o.wait, Error(exists)
// when the copy exists, Error(corrupt) on damage, Interrupted on a stop (nothing
// half-done: uncommitted swap files are removed).
TopicReport compact_topic(const LocalLog& log, const TopicConfig& t, const CompactOptions& o);

}  // namespace pspf
