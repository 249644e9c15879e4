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
//      from.
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
// short or damaged mark reads as "nothing known" (offset 0): never too far.
#pragma once

#include <optional>
#include <string>

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
constexpr uint64_t kRemovedKeysMarkAt = 24;

// The published durable end in the lock file open as `fd` (nullopt: none, or not
// valid). `path` names the file in messages. Throws Error(io) on a read error.
std::optional<Offset> read_durable_end(int fd, const std::string& path);
// The same, from a partition directory (opens its lock file; none: nullopt).
std::optional<Offset> read_durable_end(const std::string& partition_dir);
// Publishes `end` in the lock file open as `fd`. Precondition: the caller holds the
// partition lock and every record below `end` is synced (or the sync mode is none).
void write_durable_end(int fd, Offset end, const std::string& path);

// Throws Error(corrupt) when `mark`, the published durable end of the partition
// `label`, is past `end`, the end of its valid data (invariant 5).
void check_durable_end(std::optional<Offset> mark, Offset end, const std::string& label);

// Syncs (fdatasync) every segment of the partition that may hold records at or past
// `from`. Throws Error(io) when a sync fails.
void sync_segments_from(const std::string& partition_dir, Offset from);

// For readers whose position reached the published end: takes the partition lock
// without waiting. When it gets it, no writer is live, so records past the published
// end are a dead writer's leftovers (invariant 2): syncs them, publishes the log end
// and returns it. When a writer holds the lock, returns the published end (that
// writer publishes its own). `label` names the partition in messages. Throws
// Error(corrupt) on damage at the tail or when the log ends before the mark
// (invariant 5), Error(io) when a sync fails.
Offset settle_durable_end(const std::string& partition_dir, const std::string& label);

}  // namespace pspf
