// TopicReader: reads a range of a topic across its partitions (Log::read), in offset
// order within a partition and, by default, merged across partitions by append
// timestamp (ties go to the lower partition), so the output is what happened in
// order.
//
// Each partition reads from its start position up to an end bound fixed when the
// reader is made (the snapshot end: the log as it was then), or without end when
// following. Compaction gaps are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pspf/batch.h"
#include "pspf/position.h"
#include "pspf/topic.h"

namespace pspf {

struct ReadOptions {
  std::vector<PartitionId> partitions;  // empty: all
  Position from;                        // default: beginning
  std::optional<Position> until;        // exclusive
  bool follow = false;                  // no snapshot end
  bool merge = true;
  std::optional<std::string> key;  // only this key (and only its partition)
};

class TopicReader {
 public:
  virtual ~TopicReader() = default;

  // Fills p and r with the next record (r's views are valid until the next call) and
  // returns true; returns false when no record is available now. Throws
  // Error(corrupt) on damage.
  virtual bool next(PartitionId& p, RecordView& r) = 0;
  // True when every partition has reached its end bound (never when following
  // without --until).
  virtual bool finished() const = 0;
  // Following: waits up to timeout_ms for new records (changes made after the reader
  // was made are never missed); returns true when some may have come. Returns false
  // early when interrupted by a signal.
  virtual bool wait(int timeout_ms) = 0;
  virtual const TopicConfig& topic() const = 0;
};

}  // namespace pspf
