// TopicReader: reads a range of a topic across its partitions, in offset order within
// a partition and, by default, merged across partitions by append timestamp (ties
// go to the lower partition), so the output is what happened in order.
//
// Each partition reads from its start position up to an end bound fixed when the
// reader is made (the snapshot end: the log as it was then), or without end when
// following. Compaction gaps are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pspf/batch.h"
#include "pspf/log.h"
#include "pspf/position.h"

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
  TopicReader(const Log& log, TopicConfig topic, ReadOptions options);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  // Fills p and r with the next record (r's views are valid until the next call) and
  // returns true; returns false when no record is available now. Throws
  // Error(corrupt) on damage.
  bool next(PartitionId& p, RecordView& r);
  // True when every partition has reached its end bound (never when following
  // without --until).
  bool finished() const;
  // Partition directories a follower should watch for new data.
  std::vector<std::string> watch_dirs() const;
  const TopicConfig& topic() const { return topic_; }

 private:
  struct Stream;
  bool advance(Stream& s);
  static bool take(Stream& s, PartitionId& p, RecordView& r);

  TopicConfig topic_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::string> dirs_;
  bool merge_;
  bool follow_;
  std::optional<std::string> key_;
  // Merged reads: the stream last taken from, and the head of the others it must
  // stay ahead of (while it does, the others need not be looked at).
  size_t current_ = SIZE_MAX;
  int64_t bound_ts_ = INT64_MAX;
  size_t bound_index_ = SIZE_MAX;
};

}  // namespace pspf
