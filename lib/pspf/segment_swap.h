// SegmentSwap: the crash-safe replacement and removal of closed segments
// (pspf-log(5), COMPACTION). A compaction identified by a random token:
//
//   1. writes each replacement segment beside the old one as swap files
//      <base>.log.<token>.cleaned (synced) and <base>.index/.timeindex.<token>.cleaned;
//   2. under the partition lock, appends one removed-keys record per changed
//      segment and syncs it: the commit point;
//   3. still under the lock, in ascending order of base offset: for a swap, removes
//      the old index files and renames the swap files over the segment and its
//      indexes; for a delete, removes the index files and the segment; then syncs the
//      directory.
//
// A crash before 2 leaves swap files of a token without a record: they are removed
// by the next compaction. A crash inside 3 leaves committed records not yet applied:
// the next compaction applies them. Either way readers see old and new segments, each
// whole, and the ascending order keeps the latest record of every key visible (a
// dropped tombstone's older records are in lower, already replaced segments).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pspf/removed_keys.h"

namespace pspf {

// A random token for a compaction's swap files (never 0).
uint64_t new_swap_token();

// Commits and applies `changes` (kinds swap and del; the swap files of `token` are
// written) as described above, then rewrites the removed-keys file as one totals
// record when it has grown past 1 MiB. Takes the partition lock for the commit only.
// Throws Error(io). `committing` is called just before the records of step 2 are
// written. A failure before it changed nothing: the caller removes its swap files.
// A failure after it may follow the commit point (a record synced, then its
// directory's sync, the published length, a rename or a removal failed): the swap
// files must then stay, for the next compaction applies a committed record from
// them (and removes those of a record that never made it). Removing them would leave
// a committed record whose removed events stay in the log, counted twice in their
// keys' versions.
void commit_segment_changes(const std::string& partition_dir, std::vector<RemovalRecord> changes,
                            const std::function<void()>& committing);

struct Leftovers {
  size_t finished = 0;     // committed changes applied now
  size_t rolled_back = 0;  // swap files of uncommitted compactions removed
};

// Finishes what a compaction that died left in the partition. Precondition: the
// caller holds the topic's compaction lock (no compaction is writing swap files).
// Takes the partition lock. With `dry_run`, only counts.
Leftovers finish_leftovers(const std::string& partition_dir, bool dry_run = false);

}  // namespace pspf
