// Durable end: the offset below which every record of a partition is known to be on
// disk, published by writers in the partition's lock file (pspf-log(5), DURABILITY).
//
// Why it exists: a writer's bytes reach the page cache, and so every reader, before
// its fdatasync returns. A reader that handed such a record to a group member, and a
// member that committed past it, would be left with an offset past the log's end by
// a power loss. So writers publish how far they have synced, and group members hand
// out records below the published end only.
//
// The invariants:
//   1. A writer publishes an end only after an fdatasync covering every record below
//      it has succeeded, and only while it holds the partition lock. So the mark is
//      never ahead of what is on disk: after a power loss it may be behind (its own
//      page was not written back), never ahead.
//   2. Any writer holding unsynced records of a partition holds its lock until they
//      are synced (or cut off after a failed sync). So whoever takes the lock and
//      finds records past the mark has found the leftovers of a writer that died
//      between write and sync: nobody acknowledged them, nobody saw a sync of them
//      fail, and an fdatasync now makes them durable truthfully (settle()).
//   3. After a failed fdatasync the writer cuts the records it covered before it
//      releases the lock (PostgreSQL's rule: the pages may be gone, and a second
//      fsync could report success falsely). They are never published or answered
//      from. The same holds for the sync of a dead writer's leftovers (2): whoever
//      saw it fail cuts them back to the mark before letting the lock go
//      (settle_past_mark()). Without a valid mark nothing is cut, because nothing
//      tells the leftovers from acknowledged records, and destroying those is worse.
//      A cut takes several calls (segments removed, one truncated). So that a kill
//      half-way does not leave records a later sync would publish, the cut is noted
//      in the lock file first (the cut-pending mark) and cleared after its last call;
//      whoever takes the lock next finishes a noted cut before anything else. A
//      settle notes the cut before its sync, and clears it after: a process killed
//      between a failed sync and its cut leaves it noted. A writer notes it after
//      its own sync failed (before every sync, a kill would cut what the next
//      writer is meant to settle): a kill in the few calls between its failed sync
//      and the note is the one case left, and the kernel reports a writeback error
//      that nobody has seen to the next sync of the file, on any descriptor.
//   4. With --sync none the writer publishes without syncing: the user gave the
//      guarantee up (pspf-produce(1), --sync).
//   5. No command lowers the mark on its own. A mark past the end of the valid data
//      means acknowledged records are damaged or gone: readers and writers fail
//      naming it (check_durable_end()), because a writer that went on from the
//      valid end would give new events the offsets of acknowledged ones, which
//      group members may have committed past. Only pspf-topics repair lowers it, a
//      person having decided that those offsets are lost.
//
// The mark is 24 bytes at the start of the lock file: "PDUR", a format number (1),
// the end offset (int64, little-endian), and XXH3-64 of those 16 bytes. A missing,
// short or damaged mark reads as "nothing known" (offset 0): never too far. The
// cut-pending mark has the same format, at kCutPendingMarkAt; zeroes there (or a
// file too short to hold it) mean no cut is pending.
#pragma once

#include <optional>
#include <string>

#include "pspf/partition.h"
#include "pspf/types.h"

namespace pspf {

// The mark itself, for any lock file that publishes how far a file beside it is
// synced: a partition's durable end (an offset, below, at byte 0 of its lock file),
// removed-keys' synced length (bytes, at kRemovedKeysMarkAt of the same file:
// removed_keys.h), and a group's synced length of offsets.log (bytes, at byte 0 of
// the group's lock file: group_offsets.h). Each mark is 24 bytes at its own position
// `at`. nullopt: none, or not valid. `path` names the lock file in messages. Throws
// Error(io) on a read or write error.
std::optional<int64_t> read_mark(int fd, const std::string& path, uint64_t at = 0);
void write_mark(int fd, int64_t value, const std::string& path, uint64_t at = 0);
// Overwrites the mark at `at` with zeroes: none.
void clear_mark(int fd, const std::string& path, uint64_t at);
constexpr uint64_t kRemovedKeysMarkAt = 24;
constexpr uint64_t kCutPendingMarkAt = 48;

// The published durable end in the lock file open as `fd` (nullopt: none, or not
// valid). `path` names the file in messages. Throws Error(io) on a read error.
std::optional<Offset> read_durable_end(int fd, const std::string& path);
// The same, from a partition directory (opens its lock file; none: nullopt).
std::optional<Offset> read_durable_end(const std::string& partition_dir);
// The cut noted in a partition's lock file and not finished (nullopt: none).
std::optional<Offset> read_cut_pending(const std::string& partition_dir);
// Publishes `end` in the lock file open as `fd`. Precondition: the caller holds the
// partition lock and every record below `end` is synced (or the sync mode is none).
void write_durable_end(int fd, Offset end, const std::string& path);

// Throws Error(corrupt) when `mark`, the published durable end of the partition
// `label`, is past `end`, the end of its valid data (invariant 5).
void check_durable_end(std::optional<Offset> mark, Offset end, const std::string& label);

// Syncs (fdatasync) every segment of the partition that may hold records at or past
// `from`. Throws Error(io) when a sync fails.
void sync_segments_from(const std::string& partition_dir, Offset from);

// Cuts every record at or past the durable end `to` (invariant 3), for the holder of
// the partition lock open as `lock_fd` (`lock_path`) whose sync of them failed:
// notes the cut (the cut-pending mark), cuts the partition back to `place` (where
// `to` lies; found when not given), then clears the note. Throws Error(io) when the
// cut fails (the note stays, for the next holder of the lock).
void cut_past_durable_end(const std::string& partition_dir, int lock_fd,
                          const std::string& lock_path, Offset to,
                          std::optional<LogPlace> place = std::nullopt);

// Finishes the cut noted in the lock file open as `lock_fd` (`lock_path`), if any
// (the caller holds the partition lock), and returns the offset it cut back to.
std::optional<Offset> finish_noted_cut(const std::string& partition_dir, int lock_fd,
                                       const std::string& lock_path);

// Brings the partition to a settled state for the caller that just took its lock
// (open as `lock_fd`, `lock_path`), `end` being the end of its valid data, and
// returns the end then: first finishes a cut that a process killed half-way left
// noted (the end is then the cut's); then syncs the records past the published end,
// a dead writer's leftovers (invariant 2), and publishes the end. When that sync
// fails, cuts them back to the published end (invariant 3) and throws the sync's
// Error(io), saying so. Throws Error(corrupt) when the log ends before the published
// end (invariant 5). `label` names the partition in messages.
Offset settle_past_mark(const std::string& partition_dir, int lock_fd, const std::string& lock_path,
                        Offset end, const std::string& label);

// For readers whose position reached the published end: takes the partition lock
// without waiting. When it gets it, no writer is live, so records past the published
// end are a dead writer's leftovers (invariant 2): syncs them, publishes the log end
// and returns it. When a writer holds the lock, returns the published end (that
// writer publishes its own). `label` names the partition in messages. Throws
// Error(corrupt) on damage at the tail or when the log ends before the mark
// (invariant 5), Error(io) when a sync fails (having cut what it covered).
Offset settle_durable_end(const std::string& partition_dir, const std::string& label);

}  // namespace pspf
