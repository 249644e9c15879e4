#include "pspf/partition.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cassert>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "pspf/durable_end.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/partition_state.h"
#include "pspf/paths.h"
#include "pspf/quarantine.h"
#include "pspf/removed_keys.h"

namespace pspf {

namespace {

std::atomic<int64_t> g_clock_skew{0};

// True when a batch with base offset `expect` starts at `pos` (an index entry is
// only trusted after this check).
bool batch_starts_at(int fd, const std::string& path, uint64_t pos, Offset expect) {
  char raw[kBatchHeaderSize];
  if (pread_full(fd, raw, sizeof raw, pos, path) != sizeof raw) return false;
  uint32_t magic;
  std::memcpy(&magic, raw, 4);
  // The header check too: an entry of a replaced segment's old index must not match
  // bytes inside a record of the new one.
  return magic == kBatchMagic && decode_batch_header(raw).base_offset == expect &&
         header_checksum(raw) == decode_batch_header(raw).header_check;
}

}  // namespace

Timestamp now_ms() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return Timestamp(std::chrono::duration_cast<std::chrono::milliseconds>(now).count() +
                   g_clock_skew.load());
}

void set_clock_skew_for_tests(int64_t delta_ms) { g_clock_skew = delta_ms; }

std::vector<Offset> list_segments(const std::string& partition_dir) {
  std::vector<Offset> out;
  for (const auto& name : list_dir(partition_dir))
    if (auto base = paths::parse_segment_name(name, paths::kLogExt)) out.push_back(*base);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------- PartitionWriter

PartitionWriter::PartitionWriter(std::string partition_dir, std::string label,
                                 uint64_t segment_bytes, DedupWindow window)
    : dir_(std::move(partition_dir)),
      label_(std::move(label)),
      segment_bytes_(segment_bytes),
      lock_(paths::partition_lock(dir_)),
      tail_(dir_, label_,
            [this](uint64_t position, const BatchHeader& h) {
              return may_cut_suspect_tail(position, h);
            }),
      window_(window) {}

PartitionWriter::~PartitionWriter() = default;

bool PartitionWriter::may_cut_suspect_tail(uint64_t position, const BatchHeader& h) const {
  (void)position;
  // A batch wholly past the durable end was never acknowledged (durable_end.h, 1): a
  // write a power loss kept the size of but not the data. One that is not may hold
  // acknowledged events hit by a bit flip: a person decides (pspf-topics repair
  // quarantines it). The mark is not synced, so a power loss can leave it behind the
  // data: a bit flip in a batch whose publication was lost that way is cut too, into
  // quarantine, where nothing is destroyed.
  std::optional<Offset> mark = read_durable_end(lock_.fd(), lock_.path());
  return mark && h.base_offset >= *mark;
}

bool PartitionWriter::acquire(bool wait) {
  if (lock_.locked()) return true;
  if (!lock_.lock(wait)) return false;
  try {
    tail_.refresh();
    settle_unsynced();
  } catch (...) {
    lock_.unlock();
    throw;
  }
  return true;
}

void PartitionWriter::settle_unsynced() {
  std::optional<Offset> mark = read_durable_end(lock_.fd(), lock_.path());
  if (mark != tail_.next_offset()) {
    if (!mark || *mark < tail_.next_offset()) {
      // Records past the published end, and nobody else holds the lock: a writer died
      // between its write and its sync. Nobody acknowledged them and no sync of them
      // failed (a failed writer cuts before it lets go), so syncing them now makes
      // them durable truthfully; only then may this writer answer from them.
      sync_segments_from(dir_, mark.value_or(Offset(0)));
    }
    // (A mark past the end is lowered: the log was cut back by a repair.)
    write_durable_end(lock_.fd(), tail_.next_offset(), lock_.path());
  }
  durable_ = end_point();
}

void PartitionWriter::release_if_idle() {
  if (lock_.locked() && durable_.end == tail_.next_offset() && unsynced_.empty()) lock_.unlock();
}

bool PartitionWriter::roll_active() {
  acquire(true);
  bool rolled = tail_.end_pos() > 0;
  if (rolled) tail_.roll();
  release_if_idle();
  return rolled;
}

void PartitionWriter::sync() {
  if (!lock_.locked()) return;
  Handoff h = take_unsynced();
  try {
    for (auto& [path, fd] : h.files) sync_data(fd.get(), path);
  } catch (...) {
    sync_failed();
    throw;
  }
  synced(h.point);
}

PartitionWriter::Handoff PartitionWriter::take_unsynced() {
  Handoff h;
  if (!lock_.locked()) return h;
  h.files = std::exchange(unsynced_, {});
  h.point = end_point();
  return h;
}

void PartitionWriter::synced(const SyncPoint& point) {
  assert(lock_.locked() && point.end >= durable_.end && point.end <= tail_.next_offset());
  write_durable_end(lock_.fd(), point.end, lock_.path());
  durable_ = point;
  release_if_idle();
}

void PartitionWriter::sync_failed() {
  if (!lock_.locked()) return;
  // Everything past the published end was covered by a sync that failed, or would be
  // covered only by a later one that could falsely succeed: cut it all. Segments
  // created since (by a roll) hold nothing else and go; the segment of the durable
  // end is cut back to it.
  unsynced_.clear();
  std::vector<Offset> segs = list_segments(dir_);
  tail_.close(durable_.end);  // the next append reopens the tail from the disk
  state_.reset();  // its caches noted ids past the cut: they rebuild as "ahead of the log"
  std::exception_ptr error;
  try {
    for (Offset base : segs) {
      if (base <= durable_.segment) continue;
      for (auto ext : {paths::kLogExt, paths::kIndexExt, paths::kTimeIndexExt})
        remove_file(paths::segment_file(dir_, base, ext));
    }
    std::string path = paths::segment_file(dir_, durable_.segment, paths::kLogExt);
    Fd fd = open_file(path, O_RDWR);
    truncate_file(fd.get(), durable_.position, path);
    SegmentIndex(dir_, durable_.segment).truncate_from(durable_.position);
    // The cut is what keeps the records from being answered from; making it durable
    // is a courtesy that may fail on the same bad disk: if a power loss undoes the
    // cut, the records come back from the disk itself, durable, and a later writer
    // publishes them (durable_end.h, 2).
    try {
      sync_data(fd.get(), path);
      sync_dir(dir_);
    } catch (const Error&) {
      // (see above: the cut itself is what matters; the sync's failure is reported
      // by the caller's own error)
    }
  } catch (...) {
    error = std::current_exception();
  }
  lock_.unlock();
  if (error) std::rethrow_exception(error);
}

Appended PartitionWriter::append(BatchBuilder& batch, SyncMode sync, bool defer_sync) {
  return append_checked(batch, sync, defer_sync, std::nullopt).appended;
}

PartitionState& PartitionWriter::state() {
  if (!state_) state_ = std::make_unique<PartitionState>(dir_, label_, window_);
  return *state_;
}

void PartitionWriter::find_duplicates(const BatchBuilder& batch, Timestamp ts, AppendResult& result) {
  PartitionState& st = state();
  for (int attempt = 0;; ++attempt) {
    try {
      st.begin_ids(tail_.next_offset(), ts);
      if (expected_ids_ > 0) st.reserve_ids(std::exchange(expected_ids_, 0));
      result.duplicate_of.clear();
      pending_ids_.clear();
      // Hash every id first, so that the slots of the next ids load while this one is
      // looked up: the index is far bigger than the cache.
      records_.clear();
      RecordIterator it(batch.data(), batch.records_header());
      RecordView r;
      while (it.next(r)) records_.push_back({r.has_id ? std::optional(r.id) : std::nullopt,
                                             r.has_id ? MappedTable::hash(r.id) : 0});
      auto pending = [&](Offset o) -> std::optional<std::string_view> {
        auto k = static_cast<size_t>(o.value - tail_.next_offset().value);
        return k < pending_ids_.size() ? pending_ids_[k] : std::nullopt;
      };
      constexpr size_t kAhead = 16;
      for (size_t i = 0; i < records_.size() && i < kAhead; ++i)
        if (records_[i].id) st.prefetch_id(records_[i].hash);
      for (size_t i = 0; i < records_.size(); ++i) {
        if (i + kAhead < records_.size() && records_[i + kAhead].id)
          st.prefetch_id(records_[i + kAhead].hash);
        const auto& rec = records_[i];
        Offset at(tail_.next_offset().value + static_cast<int64_t>(pending_ids_.size()));
        std::optional<Offset> dup;
        if (rec.id) dup = st.find_or_add_id(*rec.id, rec.hash, at, ts, pending);
        if (dup) {
          result.duplicate_of.resize(batch.count(), Offset(-1));
          result.duplicate_of[i] = *dup;
        } else {
          pending_ids_.push_back(rec.id);
        }
      }
      return;
    } catch (const IndexDamaged&) {
      if (attempt > 0) throw;
      st.forget_ids();  // rebuilt from the log by the next begin_ids()
    }
  }
}

namespace {
// Releases a PartitionWriter's lock on scope exit unless deferred records still wait
// for their sync (then the lock stays held: durable_end.h, invariant 2).
template <typename W>
struct ReleaseIfIdle {
  W& w;
  ~ReleaseIfIdle() { w(); }
};
}  // namespace

AppendResult PartitionWriter::append_checked(BatchBuilder& batch, SyncMode sync, bool defer_sync,
                                             const std::optional<ExpectVersion>& expect) {
  assert(!batch.empty());
  acquire(true);
  auto idle = [this] { release_if_idle(); };
  ReleaseIfIdle<decltype(idle)> release{idle};
  tail_.refresh();
  if (tail_.end_pos() >= segment_bytes_) tail_.roll();
  Timestamp ts = std::max(now_ms(), tail_.last_ts());
  AppendResult result;
  BatchBuilder* out = &batch;
  if (batch.id_count() > 0) {
    find_duplicates(batch, ts, result);
    if (!result.duplicate_of.empty()) {
      filtered_.clear();
      RecordIterator it(batch.data(), batch.records_header());
      RecordView r;
      for (size_t i = 0; it.next(r); ++i) {
        if (result.duplicate_of[i].value >= 0) continue;
        std::string_view key = r.key, id = r.id;
        filtered_.add(r.has_key ? &key : nullptr, r.has_id ? &id : nullptr, r.headers, r.value);
      }
      if (const auto& mark = batch.producer_mark()) filtered_.set_producer_mark(mark->producer, mark->last_seq);
      if (filtered_.empty()) return result;  // every record was already here
      out = &filtered_;
    }
  }
  std::string key;
  if (expect) {
    RecordIterator it(out->data(), out->records_header());
    RecordView r;
    it.next(r);
    key = r.has_key ? std::string(r.key) : std::string();
    result.version_before = state().key_version(key, tail_.next_offset());
    if (!expect->matches(result.version_before)) {
      result.conflict = true;
      return result;
    }
  }
  Offset before = tail_.next_offset();
  std::string_view bytes = out->seal(tail_.next_offset(), ts);
  // Readers call a longer batch damage and writers then refuse the partition: never
  // write one (the Producer splits batches below the limit; this is the last guard).
  if (bytes.size() > kMaxBatchBytes)
    throw Error(Errc::invalid_input, fmt::format("{}: a batch of {} bytes is larger than the log "
                                                 "format allows ({} bytes); nothing was appended",
                                                 tail_.path(), bytes.size(), kMaxBatchBytes));
  try {
    if (sync != SyncMode::none && (unsynced_.empty() || unsynced_.back().first != tail_.path())) {
      Fd own(::dup(tail_.fd()));
      if (!own.valid()) throw_errno("cannot duplicate the descriptor of " + tail_.path());
      unsynced_.emplace_back(tail_.path(), std::move(own));
    }
    pwrite_all(tail_.fd(), bytes.data(), bytes.size(), tail_.end_pos(), tail_.path());
  } catch (...) {
    // Never leave a partial batch behind us: cut back to the last good end.
    ::ftruncate(tail_.fd(), static_cast<off_t>(tail_.end_pos()));
    throw;
  }
  // Start writing back now; with a deferred sync, the sync later only waits for what
  // is left.
  if (sync != SyncMode::none && defer_sync)
    ::sync_file_range(tail_.fd(), static_cast<off_t>(tail_.end_pos()),
                      static_cast<off_t>(bytes.size()), SYNC_FILE_RANGE_WRITE);
  result.appended = Appended{tail_.next_offset(), ts, out->count()};
  tail_.appended(bytes.size(), out->count(), ts);
  if (batch.id_count() > 0) state_->ids_written(tail_.next_offset());
  Offset next = tail_.next_offset();
  if (expect) state_->key_appended(key, Offset(next.value - 1), next);
  if (const auto& mark = out->producer_mark()) state().producer_appended(*mark, before, next);
  if (sync == SyncMode::none) {
    // The user gave durability up: publish at once, so that consumers see the records.
    synced(end_point());
  } else if (!defer_sync) {
    this->sync();  // on failure: cuts this batch (and anything unsynced before it), rethrows
  }
  return result;
}

int64_t PartitionWriter::key_version(std::string_view key) {
  acquire(true);
  auto idle = [this] { release_if_idle(); };
  ReleaseIfIdle<decltype(idle)> release{idle};
  tail_.refresh();
  return state().key_version(key, tail_.next_offset());
}

uint64_t PartitionWriter::producer_seq(const std::string& producer) {
  acquire(true);
  auto idle = [this] { release_if_idle(); };
  ReleaseIfIdle<decltype(idle)> release{idle};
  tail_.refresh();
  return state().producer_seq(producer, tail_.next_offset());
}

bool ExpectVersion::matches(int64_t current) const {
  switch (kind) {
    case Kind::any: return true;
    case Kind::no_stream: return current == -1;
    case Kind::exists: return current >= 0;
    case Kind::exact: return current == version;
  }
  return false;
}

// ---------------------------------------------------------------- PartitionReader

PartitionReader::PartitionReader(std::string partition_dir, std::string label)
    : dir_(std::move(partition_dir)), label_(std::move(label)) {}

PartitionReader::~PartitionReader() = default;

Offset PartitionReader::log_start() {
  auto segs = list_segments(dir_);
  return segs.empty() ? Offset(0) : segs.front();
}

Offset PartitionReader::log_end() {
  auto segs = list_segments(dir_);
  if (segs.empty()) return Offset(0);
  Offset base = segs.back();
  std::string path = paths::segment_file(dir_, base, paths::kLogExt);
  Fd fd = open_file(path, O_RDONLY);
  SegmentIndex idx(dir_, base);
  SegmentReader r(fd.get(), path, segment_tail_start(fd.get(), path, idx, false));
  Offset end = base;
  const char* data;
  BatchHeader h;
  for (;;) {
    BatchStatus s = r.next(data, h);
    if (s == BatchStatus::ok) end = h.next_offset();
    else if (s == BatchStatus::corrupt) throw_segment_corrupt(label_, path, r.reason());
    else break;
  }
  return end;
}

bool PartitionReader::open_segment(Offset base, uint64_t pos) {
  std::string path = paths::segment_file(dir_, base, paths::kLogExt);
  fd_ = open_file_if_exists(path, O_RDONLY);
  // Gone since the listing: removed by retention, or emptied by compaction.
  if (!fd_.valid()) return false;
  reader_ = std::make_unique<SegmentReader>(fd_.get(), path, pos);
  if (pos == 0) reader_->expect_offset_at_least(base);
  return true;
}

void PartitionReader::seek(Offset o) {
  want_ = o;
  reader_.reset();
  Offset base;
  do {
    segments_ = list_segments(dir_);
    if (segments_.empty()) return;
    auto it = std::upper_bound(segments_.begin(), segments_.end(), o);
    seg_index_ = it == segments_.begin() ? 0 : static_cast<size_t>(it - segments_.begin() - 1);
    base = segments_[seg_index_];
  } while (!open_segment(base, 0));  // a segment removed meanwhile: list again
  // The index is loaded after the segment is opened, and its entry checked against
  // the open file: a compaction may have replaced the segment and its index.
  SegmentIndex idx(dir_, base);
  IndexEntry e = idx.floor_offset(o);
  if (e.position > 0 &&
      batch_starts_at(fd_.get(), reader_->path(), e.position, Offset(base.value + e.rel_offset)))
    reader_->seek(e.position);
}

void PartitionReader::seek_time(Timestamp t) {
  segments_ = list_segments(dir_);
  reader_.reset();
  want_ = Offset(0);
  if (segments_.empty()) return;
  // The segment to start in: the last one whose first batch is older than t.
  seg_index_ = 0;
  for (size_t i = 1; i < segments_.size(); ++i) {
    std::string path = paths::segment_file(dir_, segments_[i], paths::kLogExt);
    Fd fd = open_file_if_exists(path, O_RDONLY);
    char raw[kBatchHeaderSize];
    if (!fd.valid() || pread_full(fd.get(), raw, sizeof raw, 0, path) != sizeof raw) break;
    if (decode_batch_header(raw).first_timestamp.value >= t.value) break;
    seg_index_ = i;
  }
  Offset base = segments_[seg_index_];
  SegmentIndex idx(dir_, base);
  Offset from = idx.floor_time(t);
  // Trust the time entry only if a batch of that offset, older than t, is where the
  // offset index says: a damaged time index must not skip records.
  IndexEntry e = idx.floor_offset(from);
  bool trusted = from == base;
  if (!trusted && base.value + e.rel_offset == from.value) {
    std::string path = paths::segment_file(dir_, base, paths::kLogExt);
    Fd fd = open_file_if_exists(path, O_RDONLY);
    char raw[kBatchHeaderSize];
    if (fd.valid() && pread_full(fd.get(), raw, sizeof raw, e.position, path) == sizeof raw) {
      BatchHeader h = decode_batch_header(raw);
      trusted = h.base_offset == from && h.first_timestamp < t &&
                header_checksum(raw) == h.header_check;
    }
  }
  seek(trusted ? from : base);
}

bool PartitionReader::advance_segment() {
  Offset current = segments_.empty() ? Offset(-1) : segments_[seg_index_];
  for (;;) {
    auto segs = list_segments(dir_);
    auto it = std::upper_bound(segs.begin(), segs.end(), current);
    if (it == segs.end()) return false;
    segments_ = std::move(segs);
    seg_index_ = static_cast<size_t>(it - segments_.begin());
    if (open_segment(segments_[seg_index_], 0)) return true;
    current = segments_[seg_index_];  // removed meanwhile: the next one
  }
}

bool PartitionReader::next(BatchRef& b) {
  if (!reader_) {
    segments_ = list_segments(dir_);
    if (segments_.empty()) return false;
    seek(want_);
    if (!reader_) return false;
  }
  for (;;) {
    BatchStatus s = reader_->next(b.data, b.header);
    if (s == BatchStatus::ok) {
      if (b.header.next_offset() <= want_) continue;  // wholly before the seek target
      return true;
    }
    if (s == BatchStatus::corrupt)
      throw_segment_corrupt(label_, reader_->path(), reader_->reason());
    // End of this segment's data. If a newer segment exists, this one is closed: read
    // it once more (a write seen in progress has completed since), then move on.
    auto segs = list_segments(dir_);
    if (segs.empty() || segs.back() <= segments_[seg_index_]) return false;
    s = reader_->next(b.data, b.header);
    if (s == BatchStatus::ok) {
      if (b.header.next_offset() <= want_) continue;
      return true;
    }
    if (s != BatchStatus::end) {
      throw_segment_corrupt(label_, reader_->path(),
                    reader_->reason() + " in a segment that is not the last");
    }
    if (!advance_segment()) return false;
  }
}

// ---------------------------------------------------------------- scan and repair

namespace {

// Whether compaction can have left offsets [from, to) between the segment at `prev`
// and the next one at `next` without a record: an applied swap record of a segment
// in [prev, next) (its last batches dropped) or delete record (a segment emptied
// and removed), or a totals record (per-segment records merged: nothing to say).
// `records` is the removed-keys file as read so far; it is read again when it does
// not explain the gap (a compaction may have committed since). nullopt when the
// file is damaged (reported by the count check instead). Throws Error(io).
std::optional<bool> gap_explained(const std::string& dir, Offset prev, Offset next,
                                  std::optional<std::vector<RemovalRecord>>& records) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!records || attempt > 0) {
      try {
        records = read_removal_records(dir);
      } catch (const Error& e) {
        if (e.code() != Errc::corrupt) throw;  // an I/O error is no verdict
        return std::nullopt;
      }
    }
    for (const auto& r : *records)
      if (r.kind == RemovalKind::totals ||
          (r.base >= prev && r.base < next && removal_applied(dir, r)))
        return true;
  }
  return false;
}

// Why a record of a checksum-valid batch cannot be read back as the readers do
// (bad envelope, offsets, value or headers), or nullopt.
std::optional<std::string> batch_record_problem(const char* data, const BatchHeader& h,
                                                Buffer& scratch) {
  try {
    RecordIterator it(data, h);
    RecordView r;
    while (it.next(r)) {
      if (auto why = record_problem(r, scratch))
        return fmt::format("record at offset {} has {}", r.offset.value, *why);
    }
    batch_producer_mark(data, h);
  } catch (const Error& e) {
    return e.what();
  }
  return std::nullopt;
}

}  // namespace

PartitionScan scan_partition(const std::string& partition_dir, bool verify_indexes) {
  PartitionScan out;
  auto segs = list_segments(partition_dir);
  out.segments = static_cast<uint32_t>(segs.size());
  if (!segs.empty()) out.start = out.end = segs.front();
  bool first_batch = true;
  std::optional<std::vector<RemovalRecord>> removals;
  std::optional<Offset> prev_base;  // the last segment read
  Buffer scratch;
  auto set_damage = [&](const std::string& path, uint64_t pos, uint64_t size, std::string why) {
    out.damaged = true;
    out.damage = fmt::format("segment {}: {}", path, why);
    out.damaged_segment = path;
    out.damage_position = pos;
    out.bytes_after_damage = size - pos;
  };
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string path = paths::segment_file(partition_dir, segs[i], paths::kLogExt);
    Fd fd = open_file_if_exists(path, O_RDONLY);
    if (!fd.valid() && i + 1 < segs.size()) {
      out.segments--;  // removed by a compaction since the listing
      continue;
    }
    if (!fd.valid()) fd = open_file(path, O_RDONLY);
    uint64_t size = file_size(fd.get(), path);
    out.bytes += size;
    if (out.damaged) {
      out.bytes_after_damage += size;
      continue;
    }
    bool last = i + 1 == segs.size();
    // Offsets are dense at append: a hole between segments is either compaction's
    // doing (removed-keys says so) or a lost segment.
    if (verify_indexes && prev_base && segs[i] > out.end &&
        gap_explained(partition_dir, *prev_base, segs[i], removals) == false) {
      set_damage(path, 0, size,
                 fmt::format("offsets {}..{} are missing before it: the segment before ends at "
                             "offset {} and no compaction removed them (a segment lost?)",
                             out.end.value, segs[i].value - 1, out.end.value));
      continue;
    }
    prev_base = segs[i];
    SegmentReader r(fd.get(), path, 0);
    r.expect_offset_at_least(std::max(segs[i], out.end));
    std::vector<std::pair<uint64_t, BatchHeader>> batches;
    const char* data;
    BatchHeader h;
    BatchStatus s;
    uint64_t batches_here = 0;
    while ((s = r.next(data, h)) == BatchStatus::ok) {
      if (verify_indexes) {
        if (auto why = batch_record_problem(data, h, scratch)) {
          set_damage(path, r.batch_position(), size,
                     fmt::format("bad batch at byte {}: {}", r.batch_position(), *why));
          break;
        }
      }
      if (first_batch) {
        out.start = h.base_offset;
        out.first_timestamp = h.first_timestamp;
        first_batch = false;
      }
      out.records += h.record_count;
      out.batches++;
      batches_here++;
      out.end = h.next_offset();
      out.last_timestamp = h.max_timestamp;
      if (verify_indexes) batches.emplace_back(r.batch_position(), h);
    }
    // The last segment's base is the next offset when it is empty (compaction may have
    // removed the batches before it).
    if (last && !out.damaged) out.end = std::max(out.end, segs[i]);
    if (out.damaged) {
      // a record that does not decode: reported above
    } else if ((s == BatchStatus::torn || s == BatchStatus::suspect) && last) {
      out.torn_tail = true;
      out.suspect_tail = s == BatchStatus::suspect;
      out.damage = fmt::format("segment {}: {}{}", path, out.suspect_tail ? "" : "torn tail: ",
                               r.reason());
      out.damaged_segment = path;
      out.damage_position = r.position();
      out.bytes_after_damage = size - r.position();
    } else if (s != BatchStatus::end) {
      set_damage(path, r.position(), size,
                 r.reason() + (s == BatchStatus::torn ? " (torn batch in a closed segment)" : ""));
    } else if (verify_indexes && batches_here == 0 && !last) {
      // Only the active segment is ever empty: compaction removes a segment it empties.
      set_damage(path, 0, size, "empty, but it is not the last segment (its records are lost)");
    }
    if (!verify_indexes) continue;
    SegmentIndex idx(partition_dir, segs[i]);
    if (idx.damaged_index_bytes() && !out.damaged)
      out.index_problems.push_back(fmt::format(
          "{}: {} bytes of malformed entries (out of order, or a partial entry)",
          paths::segment_file(partition_dir, segs[i], paths::kIndexExt), idx.damaged_index_bytes()));
    if (idx.damaged_time_bytes() && !out.damaged)
      out.index_problems.push_back(fmt::format(
          "{}: {} bytes of malformed entries (out of order, or a partial entry)",
          paths::segment_file(partition_dir, segs[i], paths::kTimeIndexExt), idx.damaged_time_bytes()));
    auto find = [&](uint64_t pos) {
      auto it = std::lower_bound(batches.begin(), batches.end(), pos,
                                 [](const auto& b, uint64_t p) { return b.first < p; });
      return it != batches.end() && it->first == pos ? &it->second : nullptr;
    };
    // Entries past damage are not worth reporting: repair rebuilds them anyway.
    uint64_t checked_end = out.damaged || out.torn_tail ? out.damage_position : UINT64_MAX;
    for (size_t k = 0; k < idx.entries().size(); ++k) {
      const IndexEntry& e = idx.entries()[k];
      if (e.position >= checked_end) break;
      const BatchHeader* bh = find(e.position);
      if (!bh || bh->base_offset.value != segs[i].value + e.rel_offset)
        out.index_problems.push_back(fmt::format(
            "{}: entry {} (offset {}, byte {}) does not point at a batch with that offset",
            paths::segment_file(partition_dir, segs[i], paths::kIndexExt), k,
            segs[i].value + e.rel_offset, e.position));
    }
    for (size_t k = 0; k < idx.time_entries().size(); ++k) {
      const TimeEntry& e = idx.time_entries()[k];
      if (checked_end != UINT64_MAX &&
          (batches.empty() || segs[i].value + e.rel_offset >= batches.back().second.next_offset().value))
        break;
      auto it = std::find_if(batches.begin(), batches.end(), [&](const auto& b) {
        return b.second.base_offset.value == segs[i].value + e.rel_offset;
      });
      if (it == batches.end() || it->second.first_timestamp.value != e.timestamp)
        out.index_problems.push_back(fmt::format(
            "{}: entry {} (time {}, offset {}) does not match a batch",
            paths::segment_file(partition_dir, segs[i], paths::kTimeIndexExt), k, e.timestamp,
            segs[i].value + e.rel_offset));
    }
  }
  // Key versions are rebuilt from the log and removed-keys: the offsets missing from
  // the log must all be counted there (see removal_shortfall).
  if (verify_indexes && !out.damaged && !segs.empty()) {
    uint64_t span = static_cast<uint64_t>(out.end.value - segs.front().value);
    uint64_t missing = span > out.records ? span - out.records : 0;
    try {
      if (auto why = removal_shortfall(partition_dir, segs.front(), out.end, missing))
        out.problems.push_back(*why);
    } catch (const Error& e) {
      if (e.code() != Errc::corrupt) throw;  // an I/O error is a failure, not a finding
      out.problems.push_back(e.what());
    }
  }
  return out;
}

PartitionScan repair_partition(const std::string& partition_dir) {
  FileLock lock(paths::partition_lock(partition_dir));
  lock.lock();
  PartitionScan before = scan_partition(partition_dir, true);
  auto segs = list_segments(partition_dir);
  bool cut = before.damaged || before.torn_tail;
  std::vector<Offset> kept;
  std::vector<std::string> quarantined;
  // Later segments follow the damage: they go whole to quarantine files (the report
  // said so first), the last one first, so that a repair that dies half way leaves
  // the damage in place and is simply run again.
  for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
    if (cut && paths::segment_file(partition_dir, *it, paths::kLogExt) > before.damaged_segment)
      quarantined.push_back(quarantine_segment(partition_dir, *it));
    else
      kept.insert(kept.begin(), *it);
  }
  std::reverse(quarantined.begin(), quarantined.end());
  for (Offset base : kept) {
    std::string path = paths::segment_file(partition_dir, base, paths::kLogExt);
    Fd fd = open_file(path, O_RDWR);
    if (cut && path == before.damaged_segment &&
        file_size(fd.get(), path) > before.damage_position)
      quarantined.insert(quarantined.begin(), cut_to_quarantine(partition_dir, base, fd.get(), path,
                                                                before.damage_position));
    // Rebuild the indexes of every segment from the log: they are caches.
    SegmentIndex idx(partition_dir, base);
    idx.clear();
    SegmentReader r(fd.get(), path, 0);
    const char* data;
    BatchHeader h;
    while (r.next(data, h) == BatchStatus::ok)
      idx.note_batch(r.batch_position(), h.base_offset, h.first_timestamp);
  }
  sync_dir(partition_dir);
  before.quarantined = std::move(quarantined);
  return before;
}

}  // namespace pspf
