#include "pspf/partition_state.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/removed_keys.h"

namespace pspf {
namespace {

constexpr uint32_t kKeysKind = 2;
constexpr size_t kRecentKeys = 1 << 16;

std::string ids_path(const std::string& dir) { return dir + "/ids.hix"; }
std::string keys_path(const std::string& dir) { return dir + "/keys.hix"; }
std::string producers_path(const std::string& dir) { return dir + "/producers.json"; }

// Removes index files a process left half-built when it died, and temporaries of
// producers.json (both are only ever written under the partition lock, which the
// caller holds; their names are random, so nobody else would ever reuse them).
void remove_unfinished(const std::string& dir) {
  for (const auto& name : list_dir(dir))
    if (name.find(".hix.new-") != std::string::npos || name.rfind("producers.json.tmp.", 0) == 0)
      remove_file(dir + "/" + name);
}

}  // namespace

PartitionState::PartitionState(std::string partition_dir, std::string label, DedupWindow window,
                               OpenBatchSource open_batches)
    : dir_(std::move(partition_dir)),
      label_(std::move(label)),
      window_(window),
      open_batches_(std::move(open_batches)) {}

PartitionState::~PartitionState() = default;

template <typename F>
void PartitionState::scan(Offset from, Offset end, F&& f) {
  std::unique_ptr<BatchSource> r = open_batches_();
  r->seek(from);
  BatchRef b;
  RecordView rec;
  while (r->next(b) && b.header.base_offset < end) {
    RecordIterator it(b.data, b.header);
    while (it.next(rec))
      if (rec.offset >= from && rec.offset < end) f(rec);
  }
}

std::optional<std::string_view> PartitionState::stored(Offset o, bool want_key) {
  bool cached =
      !cached_batch_.empty() && cached_header_.base_offset <= o && o < cached_header_.next_offset();
  if (!cached) {
    if (!reader_) reader_ = open_batches_();
    reader_->seek(o);
    BatchRef b;
    cached_batch_.clear();
    if (!reader_->next(b) || b.header.base_offset > o) return std::nullopt;
    cached_batch_.assign(b.data, b.header.length);
    cached_header_ = b.header;
    // Confirmations come in runs from one batch (a re-run import): index it once.
    cached_records_.clear();
    RecordIterator it(cached_batch_.data(), cached_header_);
    RecordView r;
    while (it.next(r))
      cached_records_.push_back({r.offset.value, r.has_key ? std::optional(r.key) : std::nullopt,
                                 r.has_id ? std::optional(r.id) : std::nullopt});
  }
  auto it = std::lower_bound(cached_records_.begin(), cached_records_.end(), o.value,
                             [](const CachedRecord& c, int64_t v) { return c.offset < v; });
  if (it == cached_records_.end() || it->offset != o.value) return std::nullopt;  // a gap
  return want_key ? it->key : it->id;
}

// ------------------------------------------------------------------------ ids

Offset PartitionState::window_start(Offset end) {
  if (window_.events > 0)
    return Offset(std::max<int64_t>(end.value - static_cast<int64_t>(window_.events), 0));
  // Append times never go backwards in a partition, so the window is the records
  // from the first one appended since now - window on. Worked out again at most
  // once a second: an entry stays deduplicated up to a second longer.
  if (window_computed_ && now_.value - window_computed_->value < 1000 && *window_computed_ <= now_)
    return window_start_;
  window_computed_ = now_;
  Timestamp since(now_.value - window_.ms);
  std::unique_ptr<BatchSource> r = open_batches_();
  r->seek_time(since);
  BatchRef b;
  while (r->next(b)) {
    if (b.header.max_timestamp < since) continue;
    RecordIterator it(b.data, b.header);
    RecordView rec;
    while (it.next(rec))
      if (rec.timestamp >= since) return rec.offset;
  }
  return end;
}

void PartitionState::begin_ids(Offset end, Timestamp now) {
  end_ = end;
  now_ = now;
  // The batch read to confirm a match may have been cut off by a repair since.
  cached_batch_.clear();
  window_start_ = window_start(end);
  if (ids_ && ids_->replaced()) ids_.reset();
  if (!ids_) ids_ = IdIndex::open(ids_path(dir_));
  if (!ids_ || ids_->covered_end() > end.value) {
    rebuild_ids(end);
    return;
  }
  try {
    catch_up_ids(end);
  } catch (const IndexDamaged&) {
    rebuild_ids(end);
  }
}

void PartitionState::rebuild_ids(Offset end) {
  remove_unfinished(dir_);
  std::unique_ptr<BatchSource> r = open_batches_();
  Offset from = std::max(r->log_start(), window_start_);
  ids_ = IdIndex::create(ids_path(dir_), 1024, from.value);
  catch_up_ids(end);
  ids_->publish();
}

void PartitionState::catch_up_ids(Offset end) {
  Offset from(std::max(ids_->covered_end(), window_start_.value));
  if (from < end) {
    scan(from, end, [&](const RecordView& r) {
      if (!r.has_id) return;
      uint64_t h = MappedTable::hash(r.id);
      auto found = ids_->find(h, [&](int64_t at) {
        if (at < window_start_.value || at >= end.value) return false;
        auto other = stored(Offset(at), false);
        return other && *other == r.id;
      });
      if (found) return;  // noted by the writer that appended it
      if (ids_->full()) grow_ids(end);
      ids_->insert(h, r.offset.value);
    });
  }
  ids_->set_covered_end(end.value);  // seals the header
}

void PartitionState::grow_ids(Offset upto, uint64_t more) {
  // Sized for the entries still in the window, bounded without a pass over the table:
  // at most one per record from the window's start up to `upto`, and at most what
  // the table holds. (Sized for every entry held, a window of N events doubled the
  // table each time it filled, and the file grew with the log.) An entry at `upto` or
  // past it names no record (its append failed) and is left behind.
  uint64_t records = static_cast<uint64_t>(std::max<int64_t>(upto.value - window_start_.value, 0));
  uint64_t live = std::min(ids_->used(), records);
  auto bigger =
      IdIndex::create(ids_path(dir_), std::max(live * 2, live + more), ids_->covered_end());
  bigger->copy_from(*ids_,
                    [&](int64_t at) { return at >= window_start_.value && at < upto.value; });
  bigger->seal_header();
  bigger->publish();
  ids_ = std::move(bigger);
}

void PartitionState::reserve_ids(uint64_t more) {
  // Only for an import large next to what the window holds: a re-run of the same
  // file (all duplicates) must not double the table for nothing.
  if (ids_->used() * 2 < more && (ids_->used() + more) * 2 > ids_->slot_count())
    grow_ids(end_, more);
  else
    ids_->expect(more);
}

void PartitionState::forget_ids() {
  ids_.reset();
  remove_file(ids_path(dir_));
}

void PartitionState::ids_written(Offset end) { ids_->set_covered_end(end.value); }

// ----------------------------------------------------------------------- keys

namespace {
// removed-keys' counts; damage is named with the partition, as the other refusals
// to answer a key version are.
std::unordered_map<std::string, uint64_t> removed_counts(const std::string& dir,
                                                         const std::string& label) {
  try {
    return load_removed_keys(dir);
  } catch (const Error& e) {
    if (e.code() != Errc::corrupt) throw;
    throw Error(Errc::corrupt,
                fmt::format("{}: cannot work out key versions: {}", label, e.what()));
  }
}
}  // namespace

int64_t PartitionState::key_version(std::string_view key, Offset end) {
  removed_ = removed_counts(dir_, label_);
  if (keys_ && keys_->replaced()) keys_.reset();
  if (!keys_) keys_ = KeyIndex::open(keys_path(dir_), kKeysKind);
  for (int attempt = 0;; ++attempt) {
    try {
      if (!keys_ || keys_->covered_end() > end.value)
        rebuild_keys(end);
      else
        catch_up_keys(end);
      KeyIndex::Slot* s = find_key(key, MappedTable::hash(key));
      if (s) return s->aux;
      // No event of the key is left in the log; those compaction or retention removed
      // still count (a deleted key keeps its version: no_stream must not match).
      auto removed = removed_.find(std::string(key));
      return removed == removed_.end() ? -1 : static_cast<int64_t>(removed->second) - 1;
    } catch (const IndexDamaged&) {
      if (attempt > 0) throw;
      keys_.reset();
    }
  }
}

int64_t PartitionState::peek_key_version(std::string_view key, Offset end, Offset log_end) {
  removed_ = removed_counts(dir_, label_);
  auto removed = removed_.find(std::string(key));
  // The version before the first event of the key still in the log.
  int64_t none = removed == removed_.end() ? -1 : static_cast<int64_t>(removed->second) - 1;
  auto count_from = [&](Offset from, int64_t version) {
    if (from < end)
      scan(from, end, [&](const RecordView& r) { version += r.has_key && r.key == key; });
    return version;
  };
  if (auto index = KeyIndex::open(keys_path(dir_), kKeysKind, /*read_only=*/true)) {
    uint64_t h = MappedTable::hash(key);
    for (int attempt = 0; attempt < 8; ++attempt) {
      try {
        std::optional<int64_t> covered = index->sealed_covered_end();
        if (!covered) continue;  // a writer is rewriting the header
        std::optional<int64_t> aux, offset;
        index->find(h, [&](const KeyIndex::Slot& slot) {
          // aux before offset (KeyIndex::update writes them the other way round).
          int64_t a = slot.aux;
          std::atomic_thread_fence(std::memory_order_acquire);
          int64_t o = slot.offset;
          auto other = stored(Offset(o), true);
          if (!other) throw IndexDamaged(fmt::format("{}: stale key entry", label_));
          if (*other != key) return false;
          aux = a;
          offset = o;
          return true;
        });
        if (index->sealed_covered_end() != covered) continue;  // changed under us
        if (offset && *offset >= *covered) continue;           // a slot being updated
        if (*covered > log_end.value) break;  // stale: records cut since (a repair)
        // The key's last event is past the durable end: not counted yet, and the
        // index's version includes it.
        if (offset && *offset >= end.value) break;
        return count_from(Offset(*covered), aux ? *aux : none);
      } catch (const IndexDamaged&) {
        // a slot caught half written, or an index that no longer matches the log
      }
    }
  }
  // No usable index: the whole log, checked like a rebuild (rebuild_keys).
  std::unique_ptr<BatchSource> r = open_batches_();
  Offset start = r->log_start();
  uint64_t records = 0;
  int64_t version = none;
  if (start < end)
    scan(start, end, [&](const RecordView& rec) {
      ++records;
      version += rec.has_key && rec.key == key;
    });
  uint64_t span = static_cast<uint64_t>(std::max<int64_t>(end.value - start.value, 0));
  if (auto why = removal_shortfall(dir_, start, end, span > records ? span - records : 0))
    throw Error(Errc::corrupt, fmt::format("{}: cannot work out key versions: {}", label_, *why));
  return version;
}

KeyIndex::Slot* PartitionState::find_key(std::string_view key, uint64_t h) {
  return keys_->find(h, [&](const KeyIndex::Slot& slot) {
    auto hint = recent_keys_.find(h);
    if (hint != recent_keys_.end() && hint->second.first == slot.offset)
      return hint->second.second == key;
    auto other = stored(Offset(slot.offset), true);
    if (!other) throw IndexDamaged(fmt::format("{}: stale key entry", label_));
    return *other == key;
  });
}

void PartitionState::rebuild_keys(Offset end) {
  remove_unfinished(dir_);
  recent_keys_.clear();
  std::unique_ptr<BatchSource> r = open_batches_();
  Offset start = r->log_start();
  keys_ = KeyIndex::create(keys_path(dir_), kKeysKind, 1024, start.value);
  uint64_t records = catch_up_keys(end);
  // Versions count the removed events too: if removed-keys lost some (a damaged or
  // missing frame), the rebuilt versions would go backwards and a stale
  // --expect-version would match. Refuse to answer rather than answer low.
  uint64_t span = static_cast<uint64_t>(std::max<int64_t>(end.value - start.value, 0));
  if (auto why = removal_shortfall(dir_, start, end, span > records ? span - records : 0)) {
    keys_.reset();
    throw Error(Errc::corrupt, fmt::format("{}: cannot rebuild key versions: {}", label_, *why));
  }
  keys_->publish();
}

void PartitionState::upsert_key(std::string_view key, Offset offset, uint64_t count) {
  uint64_t h = MappedTable::hash(key);
  KeyIndex::Slot* s = find_key(key, h);
  if (s) {
    keys_->update(s, offset.value, s->aux + static_cast<int64_t>(count));
  } else {
    if (keys_->full()) {
      auto bigger =
          KeyIndex::create(keys_path(dir_), kKeysKind, keys_->used() * 2, keys_->covered_end());
      keys_->for_each([&](const KeyIndex::Slot& e) { bigger->insert(e.hash, e.offset, e.aux); });
      bigger->seal_header();
      bigger->publish();
      keys_ = std::move(bigger);
    }
    auto removed = removed_.empty() ? removed_.end() : removed_.find(std::string(key));
    int64_t before = removed == removed_.end() ? 0 : static_cast<int64_t>(removed->second);
    keys_->insert(h, offset.value, before + static_cast<int64_t>(count) - 1);
  }
  if (recent_keys_.size() >= kRecentKeys) recent_keys_.clear();
  recent_keys_[h] = {offset.value, std::string(key)};
}

uint64_t PartitionState::catch_up_keys(Offset end) {
  Offset from(keys_->covered_end());
  if (from >= end) return 0;
  uint64_t records = 0;
  scan(from, end, [&](const RecordView& r) {
    ++records;
    if (r.has_key) upsert_key(r.key, r.offset, 1);
  });
  keys_->set_covered_end(end.value);
  return records;
}

void PartitionState::key_appended(std::string_view key, Offset last, Offset end) {
  upsert_key(key, last, static_cast<uint64_t>(end.value - keys_->covered_end()));
  keys_->set_covered_end(end.value);
}

// ------------------------------------------------------------------ producers

uint64_t PartitionState::producer_seq(const std::string& producer, Offset end) {
  if (!producers_end_) {
    std::unique_ptr<BatchSource> r = open_batches_();
    producers_end_ = r->log_start();
    producers_.clear();
    std::string path = producers_path(dir_);
    if (path_exists(path)) {
      try {
        auto j = nlohmann::json::parse(read_small_file(path));
        Offset cached(j.at("end").get<int64_t>());
        if (cached <= end) {
          producers_ = j.at("producers").get<std::map<std::string, uint64_t>>();
          producers_end_ = cached;
        }
      } catch (const std::exception&) {
        // a damaged cache: rebuilt from the log below
      }
    }
  }
  if (*producers_end_ < end) {
    std::unique_ptr<BatchSource> r = open_batches_();
    r->seek(*producers_end_);
    BatchRef b;
    while (r->next(b) && b.header.base_offset < end)
      if (auto mark = batch_producer_mark(b.data, b.header))
        producers_[mark->producer] = std::max(producers_[mark->producer], mark->last_seq);
    producers_end_ = end;
    nlohmann::json j;
    j["end"] = end.value;
    j["producers"] = producers_;
    write_file_atomic(producers_path(dir_), j.dump() + "\n");
  }
  auto it = producers_.find(producer);
  return it == producers_.end() ? 0 : it->second;
}

void PartitionState::producer_appended(const ProducerMark& mark, Offset before, Offset end) {
  if (!producers_end_ || *producers_end_ != before) return;  // caught up on next use
  producers_[mark.producer] = std::max(producers_[mark.producer], mark.last_seq);
  producers_end_ = end;
}

}  // namespace pspf
