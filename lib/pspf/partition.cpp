#include "pspf/partition.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "pspf/durable_end.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/le.h"
#include "pspf/partition_state.h"
#include "pspf/paths.h"
#include "pspf/quarantine.h"
#include "pspf/removed_keys.h"

namespace pspf {

namespace {

// True when a batch with base offset `expect` starts at `pos` (an index entry is
// only trusted after this check).
bool batch_starts_at(int fd, const std::string& path, uint64_t pos, Offset expect) {
  char raw[kBatchHeaderSize];
  if (pread_full(fd, raw, sizeof raw, pos, path) != sizeof raw) return false;
  uint32_t magic = le::load<uint32_t>(raw);
  // The header check too: an entry of a replaced segment's old index must not match
  // bytes inside a record of the new one.
  return magic == kBatchMagic && decode_batch_header(raw).base_offset == expect &&
         header_checksum(raw) == decode_batch_header(raw).header_check;
}

}  // namespace

std::vector<Offset> list_segments(const std::string& partition_dir) {
  std::vector<Offset> out;
  for (const auto& name : list_dir(partition_dir))
    if (auto base = paths::parse_segment_name(name, paths::kLogExt)) out.push_back(*base);
  std::sort(out.begin(), out.end());
  return out;
}

LogPlace place_of(const std::string& partition_dir, Offset end) {
  std::vector<Offset> segs = list_segments(partition_dir);
  auto it = std::upper_bound(segs.begin(), segs.end(), end);
  if (it == segs.begin()) return {segs.empty() ? Offset(0) : segs.front(), 0};
  Offset base = *std::prev(it);
  std::string path = paths::segment_file(partition_dir, base, paths::kLogExt);
  Fd fd = open_file(path, O_RDONLY);
  SegmentReader reader(fd.get(), path);
  reader.expect_offset_at_least(base);
  IndexEntry e = SegmentIndex(partition_dir, base).floor_offset(end);
  if (e.position > 0 &&
      batch_starts_at(fd.get(), path, e.position, Offset(base.value + e.rel_offset)))
    reader.seek(e.position);
  BatchHeader h;
  while (reader.skip(h) == BatchStatus::ok)
    if (h.base_offset >= end) return {base, reader.batch_position()};
  return {base, reader.position()};
}

void cut_back(const std::string& partition_dir, LogPlace at) {
  std::vector<Offset> segs = list_segments(partition_dir);
  for (auto it = segs.rbegin(); it != segs.rend() && *it > at.segment; ++it)
    for (auto ext : {paths::kLogExt, paths::kIndexExt, paths::kTimeIndexExt})
      remove_file(paths::segment_file(partition_dir, *it, ext));
  std::string path = paths::segment_file(partition_dir, at.segment, paths::kLogExt);
  Fd fd = open_file(path, O_RDWR);
  truncate_file(fd.get(), at.position, path);
  SegmentIndex(partition_dir, at.segment).truncate_from(at.position);
  // The cut is what keeps the records from being answered from; making it durable
  // is a courtesy that may fail on the same bad disk: if a power loss undoes the
  // cut, the records come back from the disk itself, durable, and a later writer
  // publishes them (durable_end.h, 2). The caller reports the failure that made it
  // cut.
  try {
    sync_data(fd.get(), path);
    sync_dir(partition_dir);
  } catch (const Error&) {
  }
}

// ---------------------------------------------------------------- PartitionWriter

PartitionWriter::PartitionWriter(std::string partition_dir, std::string label,
                                 uint64_t segment_bytes, DedupWindow window)
    : dir_(std::move(partition_dir)),
      label_(std::move(label)),
      segment_bytes_(segment_bytes),
      lock_(paths::partition_lock(dir_)),
      tail_(dir_, label_,
            [this](BatchStatus status, Offset first) { return may_cut_tail(status, first); }),
      window_(window) {}

PartitionWriter::~PartitionWriter() = default;

bool PartitionWriter::may_cut_tail(BatchStatus status, Offset first) const {
  // A batch wholly past the durable end was never acknowledged (durable_end.h, 1): a
  // write cut short by a crash, or one a power loss kept the size of but not the
  // data. One that is not held acknowledged events: a person decides (pspf-topics
  // repair quarantines it). The mark is not synced, so a power loss can leave it
  // behind the data: a bit flip in a batch whose publication was lost that way is cut
  // too, into quarantine, where nothing is destroyed. Without a mark (none was ever
  // published, or it is damaged), a torn batch is taken for a write in progress that
  // died, as a suspect one cannot be.
  std::optional<Offset> mark = read_durable_end(lock_.fd(), lock_.path());
  if (!mark) return status == BatchStatus::torn;
  return first >= *mark;
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
  // Records past the published end, and nobody else holds the lock: a writer died
  // between its write and its sync. Nobody acknowledged them and no sync of them
  // failed (a failed writer cuts before it lets go), so syncing them now makes them
  // durable truthfully; only then may this writer answer from them.
  Offset end;
  try {
    end = settle_past_mark(dir_, lock_.fd(), lock_.path(), tail_.next_offset(), label_);
  } catch (const Error& e) {
    if (e.code() == Errc::io) {  // the tail may have been cut: read it again
      tail_.close(Offset(0));
      state_.reset();
    }
    throw;
  }
  if (end != tail_.next_offset()) {  // a noted cut was finished: read the tail again
    tail_.close(end);
    state_.reset();
    tail_.refresh();
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
  // A failed append may have left the tail closed (append_checked): its point is read
  // from the disk again.
  if (!tail_.is_open()) tail_.refresh();
  h.files = std::exchange(unsynced_, {});
  h.point = end_point();
  return h;
}

void PartitionWriter::synced(const SyncPoint& point) {
  assert(lock_.locked() && point.end >= durable_.end && point.end <= tail_.next_offset());
  try {
    write_durable_end(lock_.fd(), point.end, lock_.path());
  } catch (...) {
    // Synced but not published, so not reported: the caller reports this failure and
    // takes the records as not written (a re-run appends them again). Cut them, as
    // after a failed sync, so that they are not there twice; the write's error is the
    // one reported.
    try {
      sync_failed();
    } catch (const Error&) {
    }
    throw;
  }
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
  tail_.close(durable_.end);  // the next append reopens the tail from the disk
  state_.reset();  // its caches noted ids past the cut: they rebuild as "ahead of the log"
  std::exception_ptr error;
  try {
    cut_past_durable_end(dir_, lock_.fd(), lock_.path(), durable_.end,
                         LogPlace{durable_.segment, durable_.position});
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
  if (!state_)
    state_ =
        std::make_unique<PartitionState>(dir_, label_, window_, partition_batches(dir_, label_));
  return *state_;
}

void PartitionWriter::find_duplicates(const BatchBuilder& batch, Timestamp ts,
                                      AppendResult& result) {
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
      while (it.next(r))
        records_.push_back({r.has_id ? std::optional(r.id) : std::nullopt,
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
      if (const auto& mark = batch.producer_mark())
        filtered_.set_producer_mark(mark->producer, mark->last_seq);
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
  const uint64_t at = tail_.end_pos();
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
    pwrite_all(tail_.fd(), bytes.data(), bytes.size(), at, tail_.path());
  } catch (...) {
    // Never leave a partial batch behind us: cut back to the last good end.
    ::ftruncate(tail_.fd(), static_cast<off_t>(at));
    throw;
  }
  // Start writing back now; with a deferred sync, the sync later only waits for what
  // is left.
  if (sync != SyncMode::none && defer_sync)
    ::sync_file_range(tail_.fd(), static_cast<off_t>(at), static_cast<off_t>(bytes.size()),
                      SYNC_FILE_RANGE_WRITE);
  result.appended = Appended{before, ts, out->count()};
  Offset next(before.value + out->count());
  try {
    tail_.appended(bytes.size(), out->count(), ts);  // notes the batch in the segment's index
    if (batch.id_count() > 0) state_->ids_written(next);
    if (expect) state_->key_appended(key, Offset(next.value - 1), next);
    if (const auto& mark = out->producer_mark()) state().producer_appended(*mark, before, next);
  } catch (...) {
    // The batch is written but the books that follow it failed (an index, the id or
    // key index, producers.json: a write error). The caller takes the append as not
    // made and may append the same records again (salvage): cut the batch off, as
    // after a failed write, or they would be there twice (nobody was told of it, no
    // sync covered it). Batches before it that wait for their sync stay, and the
    // caller still syncs and reports them: the tail is reopened from the disk at once,
    // and the caches are read again from the log.
    ::ftruncate(tail_.fd(), static_cast<off_t>(at));
    tail_.close(before);
    state_.reset();
    try {
      tail_.refresh();
    } catch (const Error&) {  // (take_unsynced() tries again; this failure is reported)
    }
    throw;
  }
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
  BatchHeader h;
  for (;;) {
    // skip(): the headers are all it needs, and a large batch is checked as it
    // streams through the reader's buffer, which stays small (no fresh pages to
    // fault in: pspf-replay asks each partition's end twice).
    BatchStatus s = r.skip(h);
    if (s == BatchStatus::ok)
      end = h.next_offset();
    else if (s == BatchStatus::corrupt)
      throw_segment_corrupt(label_, path, r.reason());
    else
      break;
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
      trusted =
          h.base_offset == from && h.first_timestamp < t && header_checksum(raw) == h.header_check;
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

Offset offset_of_position(PartitionReader& reader, const Position& pos, Offset start, Offset end) {
  switch (pos.kind) {
    case Position::Kind::beginning: return start;
    case Position::Kind::end: return end;
    case Position::Kind::offset: return Offset(pos.value);
    case Position::Kind::last_n: return Offset(std::max(start.value, end.value - pos.value));
    case Position::Kind::time: break;
  }
  // Append times never go backwards along a partition: the first record at or after
  // the time starts the range, and the index finds a batch at or before it.
  Timestamp time(pos.value);
  reader.seek_time(time);
  BatchRef b;
  RecordView r;
  while (reader.next(b)) {
    if (b.header.base_offset >= end) break;
    if (b.header.max_timestamp < time) continue;
    RecordIterator it(b.data, b.header);
    while (it.next(r)) {
      if (r.offset >= end) return end;
      if (r.timestamp >= time) return r.offset;
    }
  }
  return end;
}

namespace {
// PartitionState's view of the partition: the partition's own reader.
class ReaderBatchSource final : public BatchSource {
 public:
  ReaderBatchSource(const std::string& dir, const std::string& label) : reader_(dir, label) {}
  Offset log_start() override { return reader_.log_start(); }
  void seek(Offset o) override { reader_.seek(o); }
  void seek_time(Timestamp t) override { reader_.seek_time(t); }
  bool next(BatchRef& b) override { return reader_.next(b); }

 private:
  PartitionReader reader_;
};
}  // namespace

OpenBatchSource partition_batches(std::string partition_dir, std::string label) {
  return [dir = std::move(partition_dir), label = std::move(label)] {
    return std::make_unique<ReaderBatchSource>(dir, label);
  };
}

}  // namespace pspf
