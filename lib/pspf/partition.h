// Partition: a directory of segments, the unit of ordering and locking.
//
// PartitionWriter appends batches under an exclusive flock of the partition's lock
// file. It never appends after damage in the segment it appends to: it checks every
// batch of the active segment (checksums too) when it first opens it, and then every
// batch added since, at each append. Each append: take the lock; bring its view of
// the tail up to date (reading what other writers appended, moving a torn batch a
// dead writer left to a quarantine file and cutting it, refusing to write after
// damage, syncing records a dead writer left unsynced); roll to a new segment when
// the active one is full; assign offsets and the append time (never below the
// partition's last timestamp); write the batch with one write; sync as asked; note
// it in the index; publish the durable end (durable_end.h); release the lock. A
// writer whose sync is deferred keeps the lock until its records are synced, or cut
// off after a failed sync: whoever holds the lock never finds another live writer's
// unsynced records. The view of the tail, its recovery and the roll are the
// SegmentWriter's (segment_writer.h); the lock, the durable end and the write are here.
//
// PartitionReader takes no lock. It reads the segments in order, treats a torn tail
// as the end of the data, and throws Error(corrupt) naming the segment and byte
// position for a bad batch that has data after it.
//
// Scanning, verifying and repairing a whole partition are partition_scan.h's; the
// clock is clock.h's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/append.h"
#include "pspf/batch.h"
#include "pspf/clock.h"
#include "pspf/file.h"
#include "pspf/partition_state.h"
#include "pspf/position.h"
#include "pspf/segment.h"
#include "pspf/segment_index.h"
#include "pspf/segment_writer.h"
#include "pspf/topic.h"
#include "pspf/types.h"

namespace pspf {

// Base offsets of the segments in a partition directory, ascending.
std::vector<Offset> list_segments(const std::string& partition_dir);

// A place in a partition's data: byte `position` of the segment with base offset
// `segment`.
struct LogPlace {
  Offset segment{0};
  uint64_t position = 0;
};
// Where the records at or past offset `end` start: the first batch whose base offset
// is `end` or more, else the end of the valid data of the segment that holds `end`.
// A batch that straddles `end` stays before the place. Throws Error(io).
LogPlace place_of(const std::string& partition_dir, Offset end);
// Cuts the partition back to `at`: the segments after it go (highest first, so that a
// crash in between leaves no gap), and its segment and indexes are truncated there.
// Only under the partition lock, and only over records never acknowledged
// (durable_end.h, 3). The cut is made durable when the disk lets it (failures of that
// sync are not thrown: the .cpp says why). Throws Error(io) when the cut itself fails.
void cut_back(const std::string& partition_dir, LogPlace at);

class PartitionState;

class PartitionWriter {
 public:
  // `label` names the partition in messages ("topic orders partition 3").
  PartitionWriter(std::string partition_dir, std::string label, uint64_t segment_bytes,
                  DedupWindow window = {});
  ~PartitionWriter();
  PartitionWriter(const PartitionWriter&) = delete;
  PartitionWriter& operator=(const PartitionWriter&) = delete;

  // Appends the records of `batch` as one batch and returns where they went. With
  // SyncMode::batch or ::always the data is on disk when this returns, unless
  // `defer_sync`: then writeback is only started, the lock stays held, and the caller
  // must have the records synced (sync(), or take_unsynced() then synced()) before it
  // reports them written (so parsing the next batch overlaps the disk). Throws
  // Error(corrupt) when the active segment has a bad batch anywhere before its tail,
  // or a suspect last batch that may hold acknowledged records (nothing is appended),
  // Error(io) on write failure (the partial write is cut off again; the lock stays
  // held while earlier deferred records are unsynced) or on a failed sync (everything
  // not yet synced is cut off, and the lock released). Precondition: !batch.empty().
  Appended append(BatchBuilder& batch, SyncMode sync, bool defer_sync = false);
  // The same, with the exactly-once checks, made under the lock with the append:
  // records whose id is already in the partition's dedup window are left out (and
  // reported); with `expect`, every record must have the same key, and nothing is
  // written unless the key's version matches. The batch's producer mark, if any, is
  // written with the records. `batch` itself is left as it was (the records written
  // may be a subset of it).
  AppendResult append_checked(BatchBuilder& batch, SyncMode sync, bool defer_sync,
                              const std::optional<ExpectVersion>& expect);
  // A hint: about `ids` records with ids are coming from this writer, so the id
  // index is sized for them at the next append with ids.
  void expect_ids(uint64_t ids) { expected_ids_ = ids; }

  // The key's current version (-1: no events), from the key index.
  int64_t key_version(std::string_view key);
  // The highest input sequence number `producer` has appended here (0: none).
  uint64_t producer_seq(const std::string& producer);

  // True while this writer holds the partition lock (between appends, only while it
  // has deferred records not yet synced).
  bool holding() const { return lock_.locked(); }
  // Takes the partition lock (waiting, unless !wait: then false when another holds
  // it) and brings the view of the tail up to date, syncing and publishing records a
  // dead writer left unsynced (durable_end.h, invariant 2). True when held already.
  bool acquire(bool wait);

  // Where a sync leaves the partition durable: the end offset, and the segment and
  // byte position at which that end lies.
  struct SyncPoint {
    Offset end{0};
    Offset segment{0};
    uint64_t position = 0;
  };
  struct Handoff {
    std::vector<std::pair<std::string, Fd>> files;  // path, own descriptor
    SyncPoint point;
  };
  // Makes every batch this writer appended durable (fdatasync), publishes the
  // durable end and releases the lock. Precondition: no handoff is outstanding. On a
  // failed sync, cuts what it covered (sync_failed()) and rethrows.
  void sync();
  // Hands over the files that sync() would sync, with the point they make durable,
  // so that another thread can sync them. The lock stays held: synced() publishes the
  // point once the sync succeeded, sync_failed() cuts everything not yet synced.
  // `files` is empty when nothing was appended since the last handoff.
  Handoff take_unsynced();
  // The sync of a handoff succeeded: publishes its end, and releases the lock when
  // nothing appended since is waiting for a sync. When the durable end cannot be
  // written, does what sync_failed() does (the records were never reported: they
  // are cut) and rethrows the write's error.
  void synced(const SyncPoint& point);
  // A sync failed: cuts every record not yet published (they are treated as lost,
  // never acknowledged: a second fsync may report success falsely), and releases the
  // lock. Cutting is best effort: a failure to cut is thrown.
  void sync_failed();

  // Closes the active segment, so that the next append starts a new one (pspf-compact
  // --roll). Returns false when the active segment is empty (nothing to close).
  bool roll_active();

  // Bytes of torn batches this writer has cut off the tail so far, and the quarantine
  // files it moved them to first (pspf-log(5) QUARANTINE).
  uint64_t truncated_bytes() const { return tail_.truncated_bytes(); }
  const std::vector<std::string>& quarantined() const { return tail_.quarantined(); }

 private:
  // After taking the lock: syncs and publishes records past the published end.
  void settle_unsynced();
  // Releases the lock unless deferred records still wait for a sync.
  void release_if_idle();
  SyncPoint end_point() const { return {tail_.next_offset(), tail_.base(), tail_.end_pos()}; }
  // The one decision point for a bad last batch of the active segment (`status`
  // torn: incomplete; suspect: complete, its checksum fails) whose records would
  // start at `first`: true when it may be cut into quarantine, false when the writer
  // must refuse (nothing appended, Error(corrupt) naming it). Only what lies wholly
  // past the durable end may be cut without asking: below it, the events were
  // acknowledged, and a bad batch there is damage (durable_end.h).
  bool may_cut_tail(BatchStatus status, Offset first) const;
  PartitionState& state();
  // Fills result.duplicate_of for the records of `batch` whose id is already here,
  // noting the others' ids in the id index.
  void find_duplicates(const BatchBuilder& batch, Timestamp ts, AppendResult& result);

  std::string dir_;
  std::string label_;
  uint64_t segment_bytes_;
  FileLock lock_;
  // The active (last) segment as of the last time the lock was held.
  SegmentWriter tail_;
  DedupWindow window_;
  uint64_t expected_ids_ = 0;
  std::unique_ptr<PartitionState> state_;
  BatchBuilder filtered_;  // the records of a batch that are not duplicates
  std::vector<std::optional<std::string_view>> pending_ids_;
  struct IdHash {
    std::optional<std::string_view> id;
    uint64_t hash;
  };
  std::vector<IdHash> records_;
  // Files written with a deferred sync, not yet handed over (the active segment, and
  // the one before it when a roll came in between).
  std::vector<std::pair<std::string, Fd>> unsynced_;
  // The published durable end while the lock is held; records past it are this
  // writer's own, waiting for a sync.
  SyncPoint durable_;
};

class PartitionReader {
 public:
  PartitionReader(std::string partition_dir, std::string label);
  ~PartitionReader();
  PartitionReader(const PartitionReader&) = delete;
  PartitionReader& operator=(const PartitionReader&) = delete;

  // Lowest offset still in the log (base of the first segment), and the offset the
  // next append will get (end of the valid data now). Equal when empty. log_end()
  // reads the active segment's tail: Error(corrupt) when it is damaged before its end,
  // Error(io) on a read error.
  Offset log_start();
  Offset log_end();

  // Positions the reader so that the next batch holds the first record with offset
  // >= o (batches before it are skipped using the index).
  void seek(Offset o);
  // Positions the reader at a batch at or before the first one that may hold a
  // record with timestamp >= t (an index entry is trusted only when the log agrees
  // with it). Returns nothing: the caller skips the records older than t itself
  // (append times are monotonic, so the first one at or after t starts the range).
  void seek_time(Timestamp t);

  // Fills `b` with the next batch and returns true, or returns false when there is
  // no more data now (a later call sees what was appended since). Throws
  // Error(corrupt) on damage.
  bool next(BatchRef& b);

 private:
  bool open_segment(Offset base, uint64_t pos);
  bool advance_segment();

  std::string dir_;
  std::string label_;
  std::vector<Offset> segments_;
  size_t seg_index_ = 0;
  Fd fd_;
  std::unique_ptr<SegmentReader> reader_;
  Offset want_{0};
};

// The offset of the partition `reader` reads that position `pos` names, the partition
// holding [start, end) now: beginning -> start; end -> end; N -> N as given (the caller
// clamps it or reports it); -N -> end - N, never below start; @time -> the first offset
// below `end` appended at or after that time, or `end` when every record is older.
// The one place a Position becomes an offset (pspf-consume --from, pspf-replay
// --from/--until, pspf-offsets reset). Moves `reader`: seek it before reading on.
// Throws Error(corrupt) on damage.
Offset offset_of_position(PartitionReader& reader, const Position& pos, Offset start, Offset end);

// Opens PartitionReaders of the partition in `partition_dir` as the record source of
// its PartitionState (partition_state.h): the state sits below the writer, so the
// reader is handed down to it, never looked up from it.
OpenBatchSource partition_batches(std::string partition_dir, std::string label);

}  // namespace pspf
