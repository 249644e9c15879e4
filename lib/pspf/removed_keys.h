// RemovedKeys: how many events of each key compaction and retention have removed
// from a partition, kept in <partition>/removed-keys so that a key's version (the
// number of events ever appended with it, minus one) can be rebuilt from the log:
// events of the key still in the log + events removed.
//
// The file is an append-only sequence of checksummed frames (pspf-log(5)), each a
// record of one change to one segment:
//   swap    segment <base> was replaced by a compacted copy (swap file <token>)
//   delete  segment <base> was removed (retention, or compaction emptied it)
//   totals  the sum of earlier records (the file rewritten when it grows)
// with the count of removed events per key. A record is written and synced under
// the partition lock *before* its change is made: it is the commit point of the
// change. A record is *applied* once its change is visible in the directory: a swap
// when its .log swap file is gone (renamed over the segment), a delete when the
// segment's .log is gone. Counts accumulate over every applied record; a record not
// yet applied (a compaction that died between the commit and the rename) does not
// count until the next compaction finishes it.
//
// After each sync, the writer publishes the file's synced length in the partition's
// lock file (at kRemovedKeysMarkAt: durable_end.h). A bad last frame past it is a
// write a crash cut short (ignored, and cut by the next writer); short of it, the
// file is damaged, and readers and writers throw Error(corrupt) rather than count
// without it (key versions would go backwards).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pspf/types.h"

namespace pspf {

enum class RemovalKind : uint8_t { totals = 0, swap = 1, del = 2 };

struct RemovalRecord {
  RemovalKind kind = RemovalKind::swap;
  uint64_t token = 0;  // the compaction's token (swap file names), 0 for totals
  Offset base{0};      // the segment changed (0 for totals)
  std::unordered_map<std::string, uint64_t> counts;
};

// Per-key counts of removed events over the applied records of the partition in
// `partition_dir`; empty when the file does not exist. Exact when the caller holds
// the partition lock (changes are committed and applied under it). Throws
// Error(corrupt) when the file is damaged (a bad frame followed by more data, or
// valid frames that end short of the synced length).
std::unordered_map<std::string, uint64_t> load_removed_keys(const std::string& partition_dir);

// Every whole record of the file in order (a torn or suspect last frame past the
// synced length is left out). Throws Error(corrupt) as above.
std::vector<RemovalRecord> read_removal_records(const std::string& partition_dir);

// True when `r`'s change is visible in the partition directory (see above).
bool removal_applied(const std::string& partition_dir, const RemovalRecord& r);

// The invariant that keeps key versions from going backwards (pspf-log(5)): every
// record missing from the log between the first segment's base and the end was
// removed by a compaction, which removes only keyed records and counts each in an
// applied swap or delete record of a segment in that range. `missing` is the number
// of offsets in [first_base, end) that hold no record. Returns why removed-keys
// cannot account for them (a frame lost or damaged: versions rebuilt from it would
// be too low), or nullopt. With a totals record (per-segment records merged), the
// counts of all applied records are checked instead. Throws Error(corrupt) as
// read_removal_records.
std::optional<std::string> removal_shortfall(const std::string& partition_dir, Offset first_base,
                                             Offset end, uint64_t missing);

// Appends `records` with one write, syncs the file (and the directory when the file
// is new), and publishes the new synced length; cuts a torn or suspect last frame
// past the old length off first. Precondition: the caller holds the partition lock.
// Throws Error(io), Error(corrupt) (and then writes nothing).
// `writing`, when given, is called just before the records are written: a failure
// after it may leave them committed (synced, whatever failed next); one before it
// wrote nothing.
void append_removal_records(const std::string& partition_dir,
                            const std::vector<RemovalRecord>& records,
                            const std::function<void()>& writing = {});

// Replaces the file with one totals record of `counts`: lowers the synced length
// (synced), writes a temporary, syncs it, renames it, syncs the directory, publishes
// the new length (pspf-log(5), The removed-keys file). Precondition: the partition lock is held and
// every record is applied. With `partition_dir` a new partition (a copy), it creates the file.
void write_removed_totals(const std::string& partition_dir,
                          const std::unordered_map<std::string, uint64_t>& counts);

}  // namespace pspf
