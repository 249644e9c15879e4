#include "pspf/segment_cleaner.h"

#include <fcntl.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "pspf/batch.h"
#include "pspf/buffer.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/paths.h"
#include "pspf/segment.h"
#include "pspf/segment_index.h"

namespace pspf {

namespace {

constexpr size_t kOutChunk = 4u << 20;
constexpr uint64_t kProgressEvery = 8u << 20;

bool is_tombstone(const RecordView& r) { return msgpack_is_nil(r.value); }

// Walks the whole batches of one closed segment below rules.end, calling fn(data, h)
// for each. Throws Error(corrupt) on anything but a clean end, Interrupted on a stop.
template <typename Fn>
void for_each_batch(const std::string& path, Offset base, const CleanRules& rules, SegmentStats& st,
                    Fn fn) {
  Fd fd = open_file(path, O_RDONLY);
  SegmentReader r(fd.get(), path, 0);
  r.expect_offset_at_least(base);
  const char* data;
  BatchHeader h;
  uint64_t reported = 0;
  for (;;) {
    if (rules.stop && *rules.stop) throw Interrupted{};
    BatchStatus s = r.next(data, h);
    if (s == BatchStatus::end) break;
    if (s != BatchStatus::ok) {
      // Only the snapshot end of a live last segment may be torn (a write in progress)
      // or suspect (left for the writers and repair to decide). A closed segment that
      // ends so is damaged: stopping there would write its copy without the batch.
      bool tail = s == BatchStatus::torn || s == BatchStatus::suspect;
      if (tail && base == rules.live_segment) break;
      throw Error(Errc::corrupt,
                  fmt::format("segment {}: {}{} (pspf-topics verify and repair)", path, r.reason(),
                              tail ? " in a segment that is not the last" : ""));
    }
    if (h.base_offset >= rules.end) break;
    st.bytes_in += h.length;
    st.records_in += h.record_count;
    if (st.first_timestamp == INT64_MIN) st.first_timestamp = h.first_timestamp.value;
    st.max_timestamp = h.max_timestamp.value;
    fn(data, h);
    if (rules.progress && st.bytes_in - reported >= kProgressEvery) {
      rules.progress(st.bytes_in - reported);
      reported = st.bytes_in;
    }
  }
  if (rules.progress && st.bytes_in > reported) rules.progress(st.bytes_in - reported);
}

// The output side of pass 2: the cleaned segment and its two indexes.
class CleanedWriter {
 public:
  CleanedWriter(std::string path, Offset base) : path_(std::move(path)), index_(base) {
    if (!path_.empty()) fd_ = open_file(path_, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  // Appends one batch (header already final) and notes it in the indexes.
  void add(const char* batch, size_t n, const BatchHeader& h) {
    index_.note_batch(pos_, h.base_offset, h.first_timestamp);
    pos_ += n;
    if (!fd_.valid()) return;
    buf_.append(batch, n);
    if (buf_.size() >= kOutChunk) flush();
  }
  uint64_t size() const { return pos_; }
  // Writes out the rest, syncs the segment (it must be whole before it is committed)
  // and writes the index files (caches: not synced).
  void finish(const std::string& index_path, const std::string& time_path) {
    if (!fd_.valid()) return;
    flush();
    sync_data(fd_.get(), path_);
    index_.write(index_path, time_path);
  }

 private:
  void flush() {
    pwrite_all(fd_.get(), buf_.data(), buf_.size(), written_, path_);
    written_ += buf_.size();
    buf_.clear();
  }

  std::string path_;
  Fd fd_;
  Buffer buf_{kOutChunk + (1u << 20)};
  uint64_t pos_ = 0;
  uint64_t written_ = 0;
  IndexBuilder index_;
};

// The events removed per key while a segment is cleaned: counted by key hash (the
// one the KeyMap was asked with), the key's bytes copied once per key.
class RemovedCounter {
 public:
  void add(KeyHash h, std::string_view key) {
    Count& c = counts_[h];
    if (c.key == 0) {
      keys_.emplace_back(key);
      c.key = keys_.size();
    }
    ++c.n;
  }
  void take_back_one(KeyHash h) { --counts_.find(h)->n; }
  // Moves the counts into `out`.
  void move_to(KeyCounts& out) {
    counts_.for_each([&](const Count& c) {
      if (c.n > 0) out.emplace(std::move(keys_[c.key - 1]), c.n);
    });
  }

 private:
  struct Count {
    size_t key = 0;  // 1 + its index in keys_
    uint64_t n = 0;
  };
  KeyTable<Count> counts_;
  std::vector<std::string> keys_;
};

}  // namespace

SegmentStats map_segment(const std::string& path, Offset base, const CleanRules& rules,
                         KeyMap& map) {
  SegmentStats st;
  for_each_batch(path, base, rules, st, [&](const char* data, const BatchHeader& h) {
    RecordIterator it(data, h);
    RecordView r;
    while (it.next(r))
      if (r.has_key) map.put(r.key, r.offset);
  });
  return st;
}

SegmentStats clean_segment(const std::string& path, Offset base, const KeyMap& map,
                           const CleanRules& rules, const std::string& out_log,
                           const std::string& out_index, const std::string& out_timeindex) {
  SegmentStats st;
  CleanedWriter out(out_log, base);
  struct Span {
    const char* p;
    size_t n;
  };
  std::vector<Span> kept;
  Buffer rebuilt;
  RemovedCounter removed;
  using Mode = CleanRules::Mode;
  for_each_batch(path, base, rules, st, [&](const char* data, const BatchHeader& h) {
    kept.clear();
    RecordIterator it(data, h);
    RecordView r;
    const char* rec_start = data + kBatchHeaderSize;
    Span last{nullptr, 0};
    KeyHash last_key{};
    bool last_has_key = false;
    bool last_dropped_tombstone = false;
    while (it.next(r)) {
      const char* rec_end = r.value.data() + r.value.size();
      Span span{rec_start, static_cast<size_t>(rec_end - rec_start)};
      rec_start = rec_end;
      KeyHash key = r.has_key ? key_hash(r.key) : KeyHash{};
      last = span;
      last_has_key = r.has_key;
      last_key = key;
      last_dropped_tombstone = false;
      bool keep;
      if (rules.mode == Mode::keep_all)
        keep = true;
      else if (!r.has_key)
        keep = rules.mode != Mode::drop_all;
      else if (rules.mode == Mode::drop_all)
        keep = false;
      else if (r.has_id && (r.timestamp.value >= rules.ids_from_time ||
                            r.offset.value >= rules.ids_from_offset))
        keep = true;
      else if (map.get(key) != r.offset.value)
        keep = false;
      else if (is_tombstone(r) && r.timestamp.value < rules.tombstones_before) {
        keep = false;
        last_dropped_tombstone = true;
        ++st.tombstones_dropped;
      } else
        keep = true;
      if (keep)
        kept.push_back(span);
      else if (r.has_key)
        removed.add(key, r.key);
    }
    std::string_view mark = it.rest();
    bool has_mark = (h.attributes & kAttrProducerMark) != 0;
    if (kept.empty() && has_mark && rules.mode != Mode::drop_all) {
      // The producer mark must survive: keep the batch's last record to carry it.
      kept.push_back(last);
      if (last_has_key) removed.take_back_one(last_key);
      if (last_dropped_tombstone) --st.tombstones_dropped;
    }
    st.records_out += kept.size();
    if (kept.empty()) return;
    if (kept.size() == h.record_count) {
      out.add(data, h.length, h);
      st.bytes_out += h.length;
      return;
    }
    rebuilt.clear();
    rebuilt.resize(kBatchHeaderSize);
    for (const Span& s : kept) rebuilt.append(s.p, s.n);
    if (has_mark) rebuilt.append(mark);
    BatchHeader nh = h;
    nh.length = static_cast<uint32_t>(rebuilt.size());
    nh.record_count = static_cast<uint32_t>(kept.size());
    nh.checksum = batch_checksum(rebuilt.data(), rebuilt.size());
    encode_batch_header(nh, rebuilt.data());
    nh.header_check = header_checksum(rebuilt.data());
    encode_batch_header(nh, rebuilt.data());
    out.add(rebuilt.data(), rebuilt.size(), nh);
    st.bytes_out += rebuilt.size();
  });
  out.finish(out_index, out_timeindex);
  removed.move_to(st.removed);
  return st;
}

SegmentTail segment_tail(const std::string& partition_dir, Offset base) {
  std::string path = paths::segment_file(partition_dir, base, paths::kLogExt);
  SegmentTail out;
  Fd fd = open_file_if_exists(path, O_RDONLY);
  if (!fd.valid()) return out;
  out.bytes = file_size(fd.get(), path);
  std::optional<IndexEntry> e = SegmentIndex(partition_dir, base).last_trusted(fd.get(), path);
  uint64_t start = e ? e->position : 0;
  SegmentReader r(fd.get(), path, start);
  const char* data;
  BatchHeader h;
  while (r.next(data, h) == BatchStatus::ok) out.max_timestamp = h.max_timestamp.value;
  return out;
}

}  // namespace pspf
