// SegmentWriter: the active (last) segment of a partition as its writer sees
// it, under the partition lock: which segment it is, where its valid end lies,
// the next offset and the last timestamp of the partition, and its index. It
// brings that view up to date (reading what other writers appended), recovers
// the tail (a torn batch, or a suspect one the writer's policy lets go, is
// moved to a quarantine file and cut; a corrupt batch stops everything), and
// rolls to a new segment (pspf-log(5) WRITING A PARTITION, steps 2 and 3).
//
// Invariants, while the lock is held and after refresh(): every batch of the
// active segment before end_pos() was checked once (checksums included),
// next_offset() follows the last of them, and last_ts() is the largest
// timestamp of the partition's last two segments. Writing the batches
// themselves is the PartitionWriter's; it reports each one with appended().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pspf/batch.h"
#include "pspf/file.h"
#include "pspf/segment.h"
#include "pspf/segment_index.h"
#include "pspf/types.h"

namespace pspf {

// The byte position to start scanning a segment from to reach its tail: the
// last index entry whose batch is whole and valid (an entry can outlive its
// batch when a machine crash kept the index page but not the log's), else 0.
// When `index` is writable, the entries past the one chosen are dropped.
uint64_t segment_tail_start(int fd, const std::string& path, SegmentIndex& index, bool writable);

// Throws Error(corrupt) for a bad batch `reason` in segment `path` of the
// partition `label`, saying how to repair it.
[[noreturn]] void throw_segment_corrupt(const std::string& label, const std::string& path,
                                        const std::string& reason);

class SegmentWriter {
 public:
  // Decides whether a bad last batch (`status` torn or suspect) whose records
  // would start at offset `first` may be cut into quarantine
  // (PartitionWriter::may_cut_tail).
  using TailPolicy = std::function<bool(BatchStatus status, Offset first)>;

  // `label` names the partition in messages.
  SegmentWriter(std::string partition_dir, std::string label, TailPolicy may_cut_tail);
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Brings the view of the tail up to date: opens the last segment (creating
  // the first one) when it changed or was cut back, else scans what was
  // appended since. Throws Error(corrupt) for a bad batch before the tail, or a
  // suspect one the policy does not let go (nothing is cut then), Error(io).
  void refresh();
  // Starts the segment named by next_offset() and makes it the active one (its
  // directory entry synced). Throws Error(io).
  void roll();
  // The writer wrote a batch of `count` records and `bytes` bytes at end_pos()
  // with base offset next_offset() and timestamp `ts`.
  void appended(uint64_t bytes, uint32_t count, Timestamp ts);
  // Forgets the active segment (a sync failed and the tail is being cut back):
  // the next refresh() reopens it from the disk, with `next` as the next
  // offset.
  void close(Offset next);

  bool is_open() const { return base_.has_value(); }
  Offset base() const { return *base_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  uint64_t end_pos() const { return end_pos_; }
  Offset next_offset() const { return next_offset_; }
  Timestamp last_ts() const { return last_ts_; }
  // Bytes of torn batches cut off the tail so far, and the quarantine files
  // they were moved to first (pspf-log(5) QUARANTINE).
  uint64_t truncated_bytes() const { return truncated_bytes_; }
  const std::vector<std::string>& quarantined() const { return quarantined_; }

 private:
  void open(Offset base);
  void open_unguarded(Offset base);  // open() without its reset on failure
  void scan_tail(uint64_t from);

  std::string dir_;
  std::string label_;
  TailPolicy may_cut_tail_;
  std::optional<Offset> base_;
  std::string path_;
  Fd fd_;
  std::unique_ptr<SegmentIndex> index_;
  uint64_t end_pos_ = 0;
  Offset next_offset_{0};
  Timestamp last_ts_{0};
  uint64_t truncated_bytes_ = 0;
  std::vector<std::string> quarantined_;
};

}  // namespace pspf
