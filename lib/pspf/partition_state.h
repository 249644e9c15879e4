// PartitionState: what a partition knows beyond its records, for exactly-once
// appends: which event ids it holds (deduplication), each key's version (optimistic
// concurrency) and how far each resumable import got (producer marks). All three are
// caches of the log, kept beside it (ids.hix, keys.hix, producers.json) and brought
// up to date from the log before use: lost, damaged or stale, they are rebuilt, and
// the answers stay the same. Every call but peek_key_version() is made under the
// partition lock, by the PartitionWriter that owns this object.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pspf/batch.h"
#include "pspf/hash_index.h"
#include "pspf/topic.h"
#include "pspf/types.h"

namespace pspf {

// Where PartitionState reads the records its caches are built from: the partition's
// batches in offset order, as PartitionReader hands them out (see partition.h for
// what each call does). The caller above passes one in, so that this module, which
// sits below the partition's writer, never reaches up for the partition's reader.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Offset log_start() = 0;
  virtual void seek(Offset o) = 0;
  virtual void seek_time(Timestamp t) = 0;
  virtual bool next(BatchRef& b) = 0;
};
// Opens a new BatchSource on the partition (each scan reads with its own).
using OpenBatchSource = std::function<std::unique_ptr<BatchSource>()>;

class PartitionState {
 public:
  PartitionState(std::string partition_dir, std::string label, DedupWindow window,
                 OpenBatchSource open_batches);
  ~PartitionState();

  // --- ids. Call begin_ids() once per append, then find_or_add_id() per record.
  // Brings the id index up to the log end `end` (the next offset).
  void begin_ids(Offset end, Timestamp now);
  // Expect about `more` new ids soon: size the id index for them once now rather
  // than doubling it as they come (after begin_ids()).
  void reserve_ids(uint64_t more);
  // The offset of the record with this id still inside the dedup window, if any.
  // `pending(offset)` gives the id of a record of the batch being appended (offsets
  // from `end` on), whose records are not in the log yet.
  // `h` is MappedTable::hash(id). When the id is not found, it is noted as the id
  // of the record going to `offset`. (`ts` is not used: the window is worked out in
  // offsets at begin_ids().)
  template <typename Pending>
  std::optional<Offset> find_or_add_id(std::string_view id, uint64_t h, Offset offset, Timestamp ts,
                                       Pending&& pending);
  // Starts loading what find_or_add_id(…, h, …) will read.
  void prefetch_id(uint64_t h) { ids_->prefetch(h); }
  // Throws the id index away (it was found damaged): begin_ids() rebuilds it.
  void forget_ids();
  // After the batch was written: the index now covers the log up to `end`.
  void ids_written(Offset end);

  // --- key versions
  // The key's version (its number of events ever, removed ones included, minus one;
  // -1 when it never had one), with the key index brought up to the log end `end`.
  // Throws Error(corrupt) when the index must be rebuilt and removed-keys does not
  // account for the records missing from the log (the versions would be too low).
  int64_t key_version(std::string_view key, Offset end);
  // The same without the partition lock, changing nothing (pspf-replay
  // --current-version): the key's version counting the records below `end` (the
  // durable end; at most `log_end`, the end of the valid records), from the key
  // index as it stands, then the log from where the index ends. A writer may be updating the index
  // meanwhile: a header or slot caught changing is read again, and when the index is missing, stale
  // or keeps changing, the whole log is read instead. The one call not made under the lock.
  int64_t peek_key_version(std::string_view key, Offset end, Offset log_end);
  // After an append of records of `key`, the last at offset `last`, right after
  // key_version(): the key index covers the log up to `end` (the next offset).
  void key_appended(std::string_view key, Offset last, Offset end);

  // --- producer marks
  // The highest input sequence number of `producer` appended here (0: none).
  uint64_t producer_seq(const std::string& producer, Offset end);
  // After a batch with a producer mark was written (the log now ends at `end`).
  void producer_appended(const ProducerMark& mark, Offset before, Offset end);

 private:
  // The first offset inside the dedup window (as of begin_ids()).
  Offset window_start(Offset end);
  void rebuild_ids(Offset end);
  void catch_up_ids(Offset end);
  // Moves the ids still in the window, at offsets below `upto`, to a new table with
  // room for `more` (and at least as many again as it holds).
  void grow_ids(Offset upto, uint64_t more = 0);
  void rebuild_keys(Offset end);
  // Returns the number of records read (keyed or not).
  uint64_t catch_up_keys(Offset end);
  void upsert_key(std::string_view key, Offset offset, uint64_t count);
  // The key's slot (h is its hash), confirmed against the log; throws IndexDamaged
  // when the slot's record is gone.
  KeyIndex::Slot* find_key(std::string_view key, uint64_t h);
  std::optional<std::string_view> stored(Offset o, bool want_key);
  // Calls f(record) for every record from `from` up to `end`.
  template <typename F>
  void scan(Offset from, Offset end, F&& f);

  std::string dir_;
  std::string label_;
  DedupWindow window_;
  OpenBatchSource open_batches_;
  std::unique_ptr<IdIndex> ids_;
  std::unique_ptr<KeyIndex> keys_;
  Offset end_{0};  // log end at begin_ids()
  Timestamp now_{0};
  Offset window_start_{0};
  std::optional<Timestamp> window_computed_;  // when window_start_ was worked out
  // The batch last read to confirm a hash match (confirmations come in offset order).
  std::unique_ptr<BatchSource> reader_;
  std::string cached_batch_;
  BatchHeader cached_header_;
  struct CachedRecord {
    int64_t offset;
    std::optional<std::string_view> key, id;  // into cached_batch_
  };
  std::vector<CachedRecord> cached_records_;
  // Keys seen lately, by hash, with the offset they were seen at: confirms a key
  // match without reading the log (a hint only: checked against the slot's offset).
  std::unordered_map<uint64_t, std::pair<int64_t, std::string>> recent_keys_;
  // Events of each key removed by compaction or retention (they still count).
  std::unordered_map<std::string, uint64_t> removed_;
  std::map<std::string, uint64_t> producers_;
  std::optional<Offset> producers_end_;
};

template <typename Pending>
std::optional<Offset> PartitionState::find_or_add_id(std::string_view id, uint64_t h, Offset offset,
                                                     Timestamp ts, Pending&& pending) {
  (void)ts;
  if (ids_->full()) grow_ids(offset);
  IdIndex::Slot* empty = nullptr;
  auto found = ids_->find(
      h,
      [&](int64_t at) {
        if (at < window_start_.value) return false;
        std::optional<std::string_view> other =
            at >= end_.value ? pending(Offset(at)) : stored(Offset(at), false);
        return other && *other == id;
      },
      &empty);
  if (found) return Offset(*found);
  ids_->insert_at(empty, h, offset.value);
  return std::nullopt;
}

}  // namespace pspf
