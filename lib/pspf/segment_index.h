// SegmentIndex: the sparse offset index (<base>.index) and time index
// (<base>.timeindex) of one segment. Both are caches of the log: they are never
// synced, may lack entries at the end, and are dropped and rebuilt from the log when
// they disagree with it. A reader never trusts an entry without checking the batch
// it points at.
//
//   .index      8-byte entries:  u32 offset - base, u32 byte position of that batch
//   .timeindex 12-byte entries:  i64 first timestamp of the batch, u32 offset - base
//
// An entry is added for a batch when at least kIndexInterval bytes of log lie
// between it and the previous entry (and for the first batch). Entries strictly
// increase in offset and position and never decrease in time.
//
// This file is the one owner of that encoding, of the entry rule, and of "the last
// trustworthy entry" (last_trusted): other code reads entries through SegmentIndex
// and builds whole index files with IndexBuilder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pspf/file.h"
#include "pspf/types.h"

namespace pspf {

inline constexpr uint64_t kIndexInterval = 4096;

struct IndexEntry {
  uint32_t rel_offset;
  uint32_t position;
};
struct TimeEntry {
  int64_t timestamp;
  uint32_t rel_offset;
};

class SegmentIndex {
 public:
  // Loads the index files of segment `base` in `partition_dir`, keeping the longest
  // well-formed prefix of each (missing files are empty indexes).
  SegmentIndex(const std::string& partition_dir, Offset base);

  // Byte position of the last indexed batch whose base offset is <= target, with
  // that batch's base offset; {0, base} when none is.
  IndexEntry floor_offset(Offset target) const;
  // Base offset of the last indexed batch whose first timestamp is < t (all records
  // before it are older than t), or the segment base when none is.
  Offset floor_time(Timestamp t) const;

  // The last entry whose batch is whole, checksum-valid and has the entry's offset
  // in the segment open as `log_fd` (`log_path` for messages); nullopt when none is
  // (an entry can outlive its batch when a machine crash kept the index page but not
  // the log's, and an index is never trusted without this check). Throws Error(io).
  std::optional<IndexEntry> last_trusted(int log_fd, const std::string& log_path) const;

  const std::vector<IndexEntry>& entries() const { return offsets_; }
  const std::vector<TimeEntry>& time_entries() const { return times_; }
  Offset base() const { return base_; }
  // Bytes of each file past its well-formed prefix (damage the load skipped).
  uint64_t damaged_index_bytes() const { return damaged_index_bytes_; }
  uint64_t damaged_time_bytes() const { return damaged_time_bytes_; }

  // --- writing (only under the partition lock) ---

  // Drops every entry at or past `position` (and the time entries that go with them),
  // truncating the files.
  void truncate_from(uint64_t position);
  // Drops all entries and empties both files (before a rebuild).
  void clear();
  // Records a batch at `position`; writes an entry when the interval has passed.
  // Writes nothing for a batch the index already covers, so re-scanning a segment
  // from a trusted entry leaves the files as they are.
  void note_batch(uint64_t position, Offset batch_base, Timestamp first_ts);

 private:
  void open_for_write();

  std::string index_path_;
  std::string time_path_;
  Offset base_;
  std::vector<IndexEntry> offsets_;
  std::vector<TimeEntry> times_;
  Fd index_fd_;
  Fd time_fd_;
  uint64_t damaged_index_bytes_ = 0;
  uint64_t damaged_time_bytes_ = 0;
};

// The indexes of a segment written whole elsewhere (a cleaned segment): entries
// chosen by the same rule as SegmentIndex::note_batch, kept in memory, written at
// the end.
class IndexBuilder {
 public:
  explicit IndexBuilder(Offset base) : base_(base) {}
  // Notes a batch at `position` (batches in order).
  void note_batch(uint64_t position, Offset batch_base, Timestamp first_ts);
  // Writes both files whole, replacing what is there (caches: not synced). Throws
  // Error(io).
  void write(const std::string& index_path, const std::string& time_path) const;

 private:
  Offset base_;
  std::vector<IndexEntry> offsets_;
  std::vector<TimeEntry> times_;
};

}  // namespace pspf
