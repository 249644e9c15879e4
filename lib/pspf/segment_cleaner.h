// SegmentCleaner: the two passes of compaction over closed segments, in the manner of
// Kafka's log cleaner. Pass 1 (map_segment) notes the latest offset of every key in a
// KeyMap; pass 2 (clean_segment) copies a segment keeping, of each batch:
//   - every record without a key;
//   - every record with an id still inside the dedup window (deduplication needs it);
//   - the latest record of its key, unless it is a tombstone (value nil) appended
//     before the delete-retention horizon;
// and drops the rest. Offsets never change: a rewritten batch keeps its base offset
// and last_offset_delta, so it still says where the next batch starts; a batch left
// with no record is dropped, unless it carries a producer mark, which must survive:
// then its last record stays with it. A batch that loses nothing is copied byte for
// byte. The copy is written with its two index files. Memory: one batch and a 4 MiB
// output buffer, plus the per-key counts of removed events.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "pspf/key_map.h"
#include "pspf/types.h"

namespace pspf {

// Thrown when the stop flag is seen between batches (SIGINT, SIGTERM).
struct Interrupted {};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using KeyCounts = std::unordered_map<std::string, uint64_t, StringHash, std::equal_to<>>;

struct CleanRules {
  enum class Mode { compact, keep_all, drop_all };
  Mode mode = Mode::compact;
  int64_t tombstones_before = INT64_MIN;  // drop a latest tombstone appended before (ms)
  int64_t ids_from_time = INT64_MAX;      // keep records with an id appended at/after (ms)
  int64_t ids_from_offset = INT64_MAX;    // ... or at/after this offset
  Offset end{INT64_MAX};                  // read only batches below this offset
  // The base of the live last segment, if it is read (a copy reads it up to `end`): a
  // torn or suspect batch at its end is a write in progress, where reading stops. In
  // any other segment it is damage.
  Offset live_segment{-1};
  const volatile std::sig_atomic_t* stop = nullptr;
  std::function<void(uint64_t)> progress;  // bytes of input read, now and then
};

struct SegmentStats {
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t tombstones_dropped = 0;
  int64_t first_timestamp = INT64_MIN;
  int64_t max_timestamp = INT64_MIN;  // of the last batch read (INT64_MIN: none)
  KeyCounts removed;                  // events removed, per key
};

// Pass 1: puts every keyed record of segment `path` (base offset `base`) below
// rules.end into `map`. Returns the input's stats. Throws Error(corrupt) on a bad or
// torn batch (a closed segment ends cleanly), Interrupted.
SegmentStats map_segment(const std::string& path, Offset base, const CleanRules& rules,
                         KeyMap& map);

// Pass 2: writes the cleaned copy of segment `path` to `out_log` with its indexes in
// `out_index` and `out_timeindex` (synced: the log only), or only counts when
// `out_log` is empty. Throws like map_segment, and Error(io).
SegmentStats clean_segment(const std::string& path, Offset base, const KeyMap& map,
                           const CleanRules& rules, const std::string& out_log,
                           const std::string& out_index, const std::string& out_timeindex);

// The size of segment `path` and the max timestamp of its last batch (INT64_MIN when
// it has none), read from its last trustworthy index entry on.
struct SegmentTail {
  uint64_t bytes = 0;
  int64_t max_timestamp = INT64_MIN;
};
SegmentTail segment_tail(const std::string& partition_dir, Offset base);

}  // namespace pspf
