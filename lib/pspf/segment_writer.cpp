#include "pspf/segment_writer.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>

#include "pspf/error.h"
#include "pspf/partition.h"
#include "pspf/paths.h"
#include "pspf/quarantine.h"
#include "pspf/segment.h"

namespace pspf {

namespace {

// Checks every batch of a segment before byte `end` (where segment_tail_start
// found a valid batch), checksums included, and returns the offset that follows
// them, or nullopt when the batches do not end exactly at `end` (the index
// pointed inside a record). Throws Error(corrupt) for a bad batch: data follows
// it.
std::optional<Offset> check_batches_before(int fd, const std::string& path, Offset base,
                                           uint64_t end, const std::string& label) {
  SegmentReader r(fd, path, 0);
  r.expect_offset_at_least(base);
  Offset next = base;
  BatchHeader h;
  while (r.position() < end) {
    if (r.skip(h) != BatchStatus::ok) throw_segment_corrupt(label, path, r.reason());
    next = h.next_offset();
  }
  if (r.position() != end) return std::nullopt;
  return next;
}

}  // namespace

namespace {

// The last trusted entry of `index` (SegmentIndex::last_trusted). When `index` is
// writable, the entries past it are dropped (all of them when there is none).
std::optional<IndexEntry> tail_entry(int fd, const std::string& path, SegmentIndex& index,
                                     bool writable) {
  std::optional<IndexEntry> e = index.last_trusted(fd, path);
  if (!writable) return e;
  if (!e) {
    index.clear();
    return e;
  }
  // Time entries name batches the offset index also names, so one past this
  // entry's batch is as stale as an offset entry would be (a crash may keep
  // either file's page without the other's).
  const auto& times = index.time_entries();
  bool stale_time = !times.empty() && times.back().rel_offset > e->rel_offset;
  if (index.entries().back().rel_offset != e->rel_offset || stale_time)
    index.truncate_from(e->position + 1);
  return e;
}

}  // namespace

uint64_t segment_tail_start(int fd, const std::string& path, SegmentIndex& index, bool writable) {
  std::optional<IndexEntry> e = tail_entry(fd, path, index, writable);
  return e ? e->position : 0;
}

[[noreturn]] void throw_segment_corrupt(const std::string& label, const std::string& path,
                                        const std::string& reason) {
  throw Error(Errc::corrupt,
              fmt::format("{} segment {}: {} (pspf-topics repair cuts the partition back to "
                          "its last good batch, moving the rest to quarantine files)",
                          label, path, reason));
}

SegmentWriter::SegmentWriter(std::string partition_dir, std::string label, TailPolicy may_cut_tail)
    : dir_(std::move(partition_dir)),
      label_(std::move(label)),
      may_cut_tail_(std::move(may_cut_tail)) {}

void SegmentWriter::open(Offset base) {
  // Opened whole or not at all: a read error half way (an index file, the segment)
  // leaves the writer closed, so that the next refresh() opens the segment again from
  // its start. Half open, it had a base and no index, and the salvage that follows a
  // failed append (refresh() again) crashed on the missing index.
  try {
    open_unguarded(base);
  } catch (...) {
    base_.reset();
    index_.reset();
    end_pos_ = 0;
    throw;
  }
}

void SegmentWriter::open_unguarded(Offset base) {
  path_ = paths::segment_file(dir_, base, paths::kLogExt);
  bool existed = path_exists(path_);
  fd_ = open_file(path_, O_RDWR | O_CREAT, 0644);
  // A new file is only durable once its directory entry is.
  if (!existed) sync_dir(dir_);
  base_ = base;
  index_ = std::make_unique<SegmentIndex>(dir_, base);
  next_offset_ = std::max(next_offset_, base);
  end_pos_ = 0;
  std::optional<IndexEntry> trusted = tail_entry(fd_.get(), path_, *index_, true);
  uint64_t start = trusted ? trusted->position : 0;
  if (start > 0) {
    // The index only says where the tail is: a byte flipped before it would
    // never be seen, and every event appended after it would later be cut by a
    // repair. Check every batch once, when this writer first opens the segment
    // (later appends scan only the new bytes), and the offsets across the jump.
    if (auto next = check_batches_before(fd_.get(), path_, base, start, label_)) {
      end_pos_ = start;
      next_offset_ = std::max(next_offset_, *next);
    } else {
      start = 0;
      trusted.reset();
    }
  }
  // An index whose first entry is the one trusted (a segment under kIndexInterval
  // bytes) is kept as it is: scan_tail() finds it covers every batch and writes
  // nothing, where clearing it would rewrite both files at every open.
  if (!trusted) index_->clear();
  scan_tail(start);
}

void SegmentWriter::scan_tail(uint64_t from) {
  SegmentReader r(fd_.get(), path_, from);
  if (from == 0)
    r.expect_offset_at_least(*base_);
  else if (from == end_pos_)
    r.expect_offset_at_least(next_offset_);
  const char* data;
  BatchHeader h;
  for (;;) {
    BatchStatus s = r.next(data, h);
    if (s == BatchStatus::ok) {
      index_->note_batch(r.batch_position(), h.base_offset, h.first_timestamp);
      next_offset_ = h.next_offset();
      last_ts_ = std::max(last_ts_, h.max_timestamp);
      continue;
    }
    if (s == BatchStatus::corrupt) throw_segment_corrupt(label_, path_, r.reason());
    uint64_t size = s == BatchStatus::end ? 0 : file_size(fd_.get(), path_);
    if (s == BatchStatus::suspect && !may_cut_tail_(s, next_offset_)) {
      throw Error(Errc::corrupt,
                  fmt::format("{} segment {}: {} ({} bytes: a write a crash lost, or damage to "
                              "acknowledged events); nothing was appended (pspf-topics repair "
                              "moves the batch to a quarantine file)",
                              label_, path_, r.reason(), size - r.position()));
    }
    if (s == BatchStatus::torn && !may_cut_tail_(s, next_offset_)) {
      throw Error(Errc::corrupt,
                  fmt::format("{} segment {}: {} ({} bytes): acknowledged events from offset {} "
                              "on are cut short, not a write in progress; nothing was appended "
                              "(pspf-topics repair moves them to a quarantine file)",
                              label_, path_, r.reason(), size - r.position(), next_offset_.value));
    }
    if (s == BatchStatus::torn || s == BatchStatus::suspect) {
      // A writer died mid-write (we hold the lock, so nobody is writing now), or a
      // power loss kept a write's size but not its data: never acknowledged
      // (may_cut_tail_()). Move it to a quarantine file, durably, then cut it, so
      // that our batch follows the last good one and no byte is destroyed.
      quarantined_.push_back(cut_to_quarantine(dir_, *base_, fd_.get(), path_, r.position()));
      index_->truncate_from(r.position());
      truncated_bytes_ += size - r.position();
    }
    break;
  }
  end_pos_ = r.position();
}

void SegmentWriter::refresh() {
  std::vector<Offset> segs = list_segments(dir_);
  if (segs.empty()) {
    open(Offset(0));
    return;
  }
  if (!base_ || segs.back() != *base_) {
    if (segs.size() > 1) {
      // Timestamps never go backwards: learn the previous segment's last one
      // too (a writer may have appended there, rolled, and died before writing
      // here).
      Offset prev = segs[segs.size() - 2];
      std::string path = paths::segment_file(dir_, prev, paths::kLogExt);
      Fd fd = open_file_if_exists(path, O_RDONLY);  // compaction may have removed it
      SegmentIndex idx(dir_, prev);
      SegmentReader r(fd.get(), path,
                      fd.valid() ? segment_tail_start(fd.get(), path, idx, false) : 0);
      const char* data;
      BatchHeader h;
      while (fd.valid() && r.next(data, h) == BatchStatus::ok) {
        last_ts_ = std::max(last_ts_, h.max_timestamp);
        next_offset_ = std::max(next_offset_, h.next_offset());
      }
    }
    open(segs.back());
    return;
  }
  uint64_t size = file_size(fd_.get(), path_);
  if (size > end_pos_)
    scan_tail(end_pos_);
  else if (size < end_pos_)
    open(segs.back());  // cut back by a repair: start over
}

void SegmentWriter::roll() {
  Offset base = next_offset_;
  std::string path = paths::segment_file(dir_, base, paths::kLogExt);
  Fd fd = open_file(path, O_RDWR | O_CREAT, 0644);
  sync_dir(dir_);
  fd_ = std::move(fd);
  path_ = path;
  base_ = base;
  index_ = std::make_unique<SegmentIndex>(dir_, base);
  index_->clear();
  end_pos_ = 0;
}

void SegmentWriter::appended(uint64_t bytes, uint32_t count, Timestamp ts) {
  index_->note_batch(end_pos_, next_offset_, ts);
  end_pos_ += bytes;
  next_offset_ = Offset(next_offset_.value + count);
  last_ts_ = ts;
}

void SegmentWriter::close(Offset next) {
  fd_.reset();
  index_.reset();
  base_.reset();
  next_offset_ = next;
}

}  // namespace pspf
