#include "pspf/segment_index.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "pspf/batch.h"
#include "pspf/le.h"
#include "pspf/paths.h"
#include "pspf/segment.h"

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
  return read_to_end(fd.get(), path, 0, max_bytes);
}

// The file encoding (pspf-log(5) INDEX FILES): fixed-size entries, fields in the
// machine's (little-endian) byte order.
constexpr size_t kEntryBytes = 8;
constexpr size_t kTimeEntryBytes = 12;

void encode(const IndexEntry& e, char* out) {
  le::store(out, e.rel_offset);
  le::store(out + 4, e.position);
}
void encode(const TimeEntry& e, char* out) {
  le::store(out, e.timestamp);
  le::store(out + 8, e.rel_offset);
}
IndexEntry decode_entry(const char* in) {
  return IndexEntry{le::load<uint32_t>(in), le::load<uint32_t>(in + 4)};
}
TimeEntry decode_time_entry(const char* in) {
  return TimeEntry{le::load<int64_t>(in), le::load<uint32_t>(in + 8)};
}

// The entry rule: a batch gets an offset entry when it is the first, or starts at
// least kIndexInterval bytes after the last entry's batch (and after its offset);
// a time entry goes with it unless time went backwards.
bool entry_due(const std::vector<IndexEntry>& offsets, uint64_t position, uint32_t rel) {
  return offsets.empty() ||
         (position >= offsets.back().position + kIndexInterval && rel > offsets.back().rel_offset);
}
bool time_entry_due(const std::vector<TimeEntry>& times, Timestamp first_ts) {
  return times.empty() || first_ts.value >= times.back().timestamp;
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
  std::string raw = read_bounded(index_path_, max_entries * kEntryBytes, size);
  for (size_t i = 0; i + kEntryBytes <= raw.size(); i += kEntryBytes) {
    IndexEntry e = decode_entry(raw.data() + i);
    if (!offsets_.empty() &&
        (e.rel_offset <= offsets_.back().rel_offset || e.position <= offsets_.back().position))
      break;  // damaged from here on: keep the good prefix
    offsets_.push_back(e);
  }
  damaged_index_bytes_ = size - offsets_.size() * kEntryBytes;
  raw = read_bounded(time_path_, max_entries * kTimeEntryBytes, size);
  for (size_t i = 0; i + kTimeEntryBytes <= raw.size(); i += kTimeEntryBytes) {
    TimeEntry e = decode_time_entry(raw.data() + i);
    if (!times_.empty() &&
        (e.timestamp < times_.back().timestamp || e.rel_offset <= times_.back().rel_offset))
      break;
    times_.push_back(e);
  }
  damaged_time_bytes_ = size - times_.size() * kTimeEntryBytes;
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

std::optional<IndexEntry> SegmentIndex::last_trusted(int log_fd,
                                                     const std::string& log_path) const {
  for (size_t i = offsets_.size(); i-- > 0;) {
    const IndexEntry& e = offsets_[i];
    Offset expect(base_.value + e.rel_offset);
    SegmentReader r(log_fd, log_path, e.position);
    r.expect_offset_at_least(expect);
    BatchHeader h;
    // skip(): the batch is checked whole, checksum included, but a large one streams
    // through the reader's small buffer instead of a fresh one of its size.
    if (r.skip(h) == BatchStatus::ok && h.base_offset == expect) return e;
  }
  return std::nullopt;
}

void SegmentIndex::open_for_write() {
  if (index_fd_.valid()) return;
  index_fd_ = open_file(index_path_, O_RDWR | O_CREAT, 0644);
  time_fd_ = open_file(time_path_, O_RDWR | O_CREAT, 0644);
  // Drop whatever damaged tail the load skipped, so appended entries follow the good
  // prefix directly. A sound file is left alone: a truncate is a metadata change the
  // next fdatasync of the log would carry through the journal.
  if (damaged_index_bytes_)
    truncate_file(index_fd_.get(), offsets_.size() * kEntryBytes, index_path_);
  if (damaged_time_bytes_)
    truncate_file(time_fd_.get(), times_.size() * kTimeEntryBytes, time_path_);
  damaged_index_bytes_ = damaged_time_bytes_ = 0;
}

void SegmentIndex::truncate_from(uint64_t position) {
  size_t keep = 0;
  while (keep < offsets_.size() && offsets_[keep].position < position) ++keep;
  uint32_t limit = keep ? offsets_[keep - 1].rel_offset : 0;
  size_t keep_t = 0;
  while (keep_t < times_.size() && keep && times_[keep_t].rel_offset <= limit) ++keep_t;
  // Nothing to drop (a new segment's clear(), say): leave the files untouched.
  if (keep == offsets_.size() && keep_t == times_.size() && !damaged_index_bytes_ &&
      !damaged_time_bytes_)
    return;
  open_for_write();
  offsets_.resize(keep);
  times_.resize(keep_t);
  truncate_file(index_fd_.get(), keep * kEntryBytes, index_path_);
  truncate_file(time_fd_.get(), keep_t * kTimeEntryBytes, time_path_);
}

void SegmentIndex::clear() { truncate_from(0); }

void SegmentIndex::note_batch(uint64_t position, Offset batch_base, Timestamp first_ts) {
  auto rel = static_cast<uint32_t>(batch_base.value - base_.value);
  if (!entry_due(offsets_, position, rel)) return;
  open_for_write();
  // The files may hold entries this object dropped as damaged: write at the end of
  // what it keeps, which also overwrites the damage.
  IndexEntry e{rel, static_cast<uint32_t>(position)};
  char raw[kTimeEntryBytes];
  encode(e, raw);
  pwrite_all(index_fd_.get(), raw, kEntryBytes, offsets_.size() * kEntryBytes, index_path_);
  offsets_.push_back(e);
  if (time_entry_due(times_, first_ts)) {
    TimeEntry t{first_ts.value, rel};
    encode(t, raw);
    pwrite_all(time_fd_.get(), raw, kTimeEntryBytes, times_.size() * kTimeEntryBytes, time_path_);
    times_.push_back(t);
  }
}

void IndexBuilder::note_batch(uint64_t position, Offset batch_base, Timestamp first_ts) {
  auto rel = static_cast<uint32_t>(batch_base.value - base_.value);
  if (!entry_due(offsets_, position, rel)) return;
  offsets_.push_back({rel, static_cast<uint32_t>(position)});
  if (time_entry_due(times_, first_ts)) times_.push_back({first_ts.value, rel});
}

void IndexBuilder::write(const std::string& index_path, const std::string& time_path) const {
  std::string raw(offsets_.size() * kEntryBytes, '\0');
  for (size_t i = 0; i < offsets_.size(); ++i) encode(offsets_[i], raw.data() + i * kEntryBytes);
  Fd f = open_file(index_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pwrite_all(f.get(), raw.data(), raw.size(), 0, index_path);
  raw.assign(times_.size() * kTimeEntryBytes, '\0');
  for (size_t i = 0; i < times_.size(); ++i) encode(times_[i], raw.data() + i * kTimeEntryBytes);
  f = open_file(time_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pwrite_all(f.get(), raw.data(), raw.size(), 0, time_path);
}

}  // namespace pspf
