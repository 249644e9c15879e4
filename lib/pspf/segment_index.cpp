#include "pspf/segment_index.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "pspf/batch.h"
#include "pspf/paths.h"

namespace pspf {

namespace {

// Reads at most `max_bytes` of `path` (empty when missing); sets `size` to its size.
// An index is a cache: a huge (or sparse) one must cost no more memory than its
// segment could ever need, not its own size.
std::string read_bounded(const std::string& path, uint64_t max_bytes, uint64_t& size) {
  Fd fd = open_file_if_exists(path, O_RDONLY);
  size = 0;
  if (!fd.valid()) return {};
  size = file_size(fd.get(), path);
  std::string out;
  out.resize(std::min(size, max_bytes));
  out.resize(pread_full(fd.get(), out.data(), out.size(), 0, path));
  return out;
}

}  // namespace

SegmentIndex::SegmentIndex(const std::string& partition_dir, Offset base)
    : index_path_(paths::segment_file(partition_dir, base, paths::kIndexExt)),
      time_path_(paths::segment_file(partition_dir, base, paths::kTimeIndexExt)),
      base_(base) {
  // Every entry marks a batch of the segment, so the segment's size bounds how many
  // there can be.
  uint64_t log_bytes = 0;
  if (Fd log =
          open_file_if_exists(paths::segment_file(partition_dir, base, paths::kLogExt), O_RDONLY);
      log.valid())
    log_bytes = file_size(log.get(), partition_dir);
  uint64_t max_entries = log_bytes / kBatchHeaderSize + 1, size = 0;
  std::string raw = read_bounded(index_path_, max_entries * 8, size);
  for (size_t i = 0; i + 8 <= raw.size(); i += 8) {
    IndexEntry e;
    std::memcpy(&e.rel_offset, raw.data() + i, 4);
    std::memcpy(&e.position, raw.data() + i + 4, 4);
    if (!offsets_.empty() &&
        (e.rel_offset <= offsets_.back().rel_offset || e.position <= offsets_.back().position))
      break;  // damaged from here on: keep the good prefix
    offsets_.push_back(e);
  }
  damaged_index_bytes_ = size - offsets_.size() * 8;
  raw = read_bounded(time_path_, max_entries * 12, size);
  for (size_t i = 0; i + 12 <= raw.size(); i += 12) {
    TimeEntry e;
    std::memcpy(&e.timestamp, raw.data() + i, 8);
    std::memcpy(&e.rel_offset, raw.data() + i + 8, 4);
    if (!times_.empty() &&
        (e.timestamp < times_.back().timestamp || e.rel_offset <= times_.back().rel_offset))
      break;
    times_.push_back(e);
  }
  damaged_time_bytes_ = size - times_.size() * 12;
}

IndexEntry SegmentIndex::floor_offset(Offset target) const {
  int64_t rel = target.value - base_.value;
  if (rel < 0 || offsets_.empty()) return {0, 0};
  auto it =
      std::upper_bound(offsets_.begin(), offsets_.end(), rel,
                       [](int64_t v, const IndexEntry& e) { return v < int64_t(e.rel_offset); });
  if (it == offsets_.begin()) return {0, 0};
  return *(it - 1);
}

Offset SegmentIndex::floor_time(Timestamp t) const {
  auto it = std::lower_bound(times_.begin(), times_.end(), t.value,
                             [](const TimeEntry& e, int64_t v) { return e.timestamp < v; });
  if (it == times_.begin()) return base_;
  return Offset(base_.value + (it - 1)->rel_offset);
}

void SegmentIndex::open_for_write() {
  if (index_fd_.valid()) return;
  index_fd_ = open_file(index_path_, O_RDWR | O_CREAT, 0644);
  time_fd_ = open_file(time_path_, O_RDWR | O_CREAT, 0644);
  // Drop whatever damaged tail the load skipped, so appended entries follow the good
  // prefix directly.
  truncate_file(index_fd_.get(), offsets_.size() * 8, index_path_);
  truncate_file(time_fd_.get(), times_.size() * 12, time_path_);
}

void SegmentIndex::truncate_from(uint64_t position) {
  open_for_write();
  size_t keep = 0;
  while (keep < offsets_.size() && offsets_[keep].position < position) ++keep;
  offsets_.resize(keep);
  uint32_t limit = keep ? offsets_.back().rel_offset : 0;
  size_t keep_t = 0;
  while (keep_t < times_.size() && keep && times_[keep_t].rel_offset <= limit) ++keep_t;
  times_.resize(keep_t);
  truncate_file(index_fd_.get(), keep * 8, index_path_);
  truncate_file(time_fd_.get(), keep_t * 12, time_path_);
}

void SegmentIndex::clear() { truncate_from(0); }

void SegmentIndex::note_batch(uint64_t position, Offset batch_base, Timestamp first_ts) {
  if (!offsets_.empty() && position < offsets_.back().position + kIndexInterval) return;
  auto rel = static_cast<uint32_t>(batch_base.value - base_.value);
  if (!offsets_.empty() && rel <= offsets_.back().rel_offset) return;
  open_for_write();
  // The files may hold entries this object dropped as damaged: write at the end of
  // what it keeps, which also overwrites the damage.
  IndexEntry e{rel, static_cast<uint32_t>(position)};
  char raw[12];
  std::memcpy(raw, &e.rel_offset, 4);
  std::memcpy(raw + 4, &e.position, 4);
  pwrite_all(index_fd_.get(), raw, 8, offsets_.size() * 8, index_path_);
  offsets_.push_back(e);
  if (times_.empty() || first_ts.value >= times_.back().timestamp) {
    std::memcpy(raw, &first_ts.value, 8);
    std::memcpy(raw + 8, &rel, 4);
    pwrite_all(time_fd_.get(), raw, 12, times_.size() * 12, time_path_);
    times_.push_back({first_ts.value, rel});
  }
}

}  // namespace pspf
