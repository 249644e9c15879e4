// OffsetReset: where an administrator moves a consumer group's committed offsets
// (pspf-offsets reset and commit), and the per-partition facts that decision and a
// lag report need: the offset range a partition holds now, the first offset at or
// after a time, the append time of the oldest record from an offset on.
//
// Invariants: a target is always inside [log start, log end] of its partition as
// read when it was computed (the requested value is kept beside it, so the caller
// can say what was clamped); nothing here writes. Applying a plan is
// GroupOffsets::set, which fences live members.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pspf/group_offsets.h"
#include "pspf/log.h"
#include "pspf/types.h"

namespace pspf {

// How a reset chooses each partition's new offset.
struct ResetMode {
  enum class Kind { earliest, latest, offset, shift, time };
  Kind kind = Kind::earliest;
  int64_t value = 0;  // the offset (offset), the delta (shift), epoch ms (time)
};

// One line of a reset plan.
struct ResetTarget {
  TopicPartition tp;
  Offset current{-1};  // committed now; -1 when none
  Offset wanted{0};    // what the mode asked for, before clamping
  Offset target{0};    // the new offset: `wanted` clamped into [bounds.start, bounds.end]
  OffsetBounds bounds;
  bool clamped() const { return wanted != target; }
};

// Computes the new offset of partition p of t for `mode`, given the group's current
// committed offset (-1 when none). Throws Error(not_found) for a shift of a partition
// without a committed offset, Error(corrupt) on damage.
ResetTarget reset_target(const Log& log, const TopicConfig& t, PartitionId p, Offset current,
                         const ResetMode& mode);

// The same for an explicit offset (pspf-offsets commit, a plan read from a file).
ResetTarget explicit_target(const Log& log, const TopicConfig& t, PartitionId p, Offset current,
                            Offset wanted);

// Parses a plan as written by `pspf-offsets reset --export`: lines
// "topic,partition,offset", no header; blank lines are skipped. `source` names the
// input in messages. Throws Error(invalid_input) naming the line for a bad one.
std::vector<std::pair<TopicPartition, Offset>> parse_offset_plan(const std::string& text,
                                                                 const std::string& source);

// Formats a plan in that format.
std::string format_offset_plan(const std::vector<ResetTarget>& plan);

}  // namespace pspf
