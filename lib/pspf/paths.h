// Paths: every on-disk name in the data directory comes from here (pspf-log(5)).
//
//   DIR/topics/<topic>/topic.json
//   DIR/topics/<topic>/<partition>/<base offset, 20 digits>.log|.index|.timeindex
//   DIR/topics/<topic>/<partition>/lock
//   DIR/topics/<topic>/<partition>/removed-keys     (events compaction removed, per key)
//   DIR/topics/<topic>/<partition>/<base><ext>.<token>.cleaned  (a compaction's swap files)
//   DIR/topics/<topic>/<partition>/<base>.log.<position>[.<n>].quarantine  (bytes recovery cut)
//   DIR/topics/<topic>/compact.lock                  (one compaction of a topic at a time)
//   DIR/groups/<group>/offsets.log, lock, members/, owners/<topic>/<partition>
//   DIR/tmp/   (topics and groups being created or deleted)
//
// Topic names are checked here so that no name can reach outside the data directory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pspf/types.h"

namespace pspf::paths {

// Throws Error(usage) unless `name` is 1..249 characters of [A-Za-z0-9._-] and not
// "." or "..". `what` names the thing in the message ("topic", "group").
void check_name(std::string_view name, std::string_view what = "topic");

std::string topics_dir(const std::string& dir);
// Where topics and groups are built or taken apart before a rename makes the change
// visible at once (DIR/tmp): outside topics/ and groups/ so no name collides.
std::string tmp_dir(const std::string& dir);
// A fresh name in tmp_dir for a tree being built or taken apart:
// "DIR/tmp/<what>-<pid>-<epoch ms in hex>" (what: "creating", "deleting", ...).
std::string tmp_entry(const std::string& dir, std::string_view what);
std::string topic_dir(const std::string& dir, std::string_view topic);
std::string topic_meta(const std::string& dir, std::string_view topic);
std::string partition_dir(const std::string& dir, std::string_view topic, PartitionId p);
std::string partition_lock(const std::string& partition_dir);
// Per-key counts of the events compaction and retention removed (pspf-log(5)).
std::string removed_keys(const std::string& partition_dir);
// Held by a compaction of the topic for its whole run.
std::string compact_lock(const std::string& dir, std::string_view topic);

std::string groups_dir(const std::string& dir);
std::string group_dir(const std::string& dir, std::string_view group);
// The group's commit file, and the lock that serialises writers of it.
std::string group_offsets(const std::string& group_dir);
std::string group_lock(const std::string& group_dir);
// Membership: one lock file per live member, one per owned topic-partition.
std::string group_members_dir(const std::string& group_dir);
std::string group_owners_dir(const std::string& group_dir, std::string_view topic);
std::string group_owner_lock(const std::string& group_dir, std::string_view topic, PartitionId p);

// "<20-digit base offset><ext>", ext one of kLogExt, kIndexExt, kTimeIndexExt.
inline constexpr std::string_view kLogExt = ".log";
inline constexpr std::string_view kIndexExt = ".index";
inline constexpr std::string_view kTimeIndexExt = ".timeindex";
std::string segment_file(const std::string& partition_dir, Offset base, std::string_view ext);
// The base offset of a segment file name with extension `ext`, or nullopt when the
// name is not of that form.
std::optional<Offset> parse_segment_name(std::string_view filename, std::string_view ext);

// A compaction's replacement for file <base><ext> (ext one of the three above), named
// by the token of its compaction: "<20-digit base><ext>.<16 hex digits>.cleaned".
std::string swap_file(const std::string& partition_dir, Offset base, std::string_view ext,
                      uint64_t token);
struct SwapName {
  Offset base{0};
  std::string_view ext;  // kLogExt, kIndexExt or kTimeIndexExt
  uint64_t token = 0;
};
// The parts of a swap file name, or nullopt when `filename` is not one.
std::optional<SwapName> parse_swap_name(std::string_view filename);

// Where the bytes that recovery cuts from segment <base>, from byte `position` to its
// end, are kept: "<20-digit base>.log.<position>.quarantine" (position 0: the whole
// segment). The same place cut again (`n` > 0) gets "<base>.log.<position>.<n>.quarantine",
// so that no quarantine file ever replaces another. Never a segment name.
std::string quarantine_file(const std::string& partition_dir, Offset base, uint64_t position,
                            unsigned n = 0);
// The same for any framed file (a segment, offsets.log, removed-keys):
// "<file>.<position>[.<n>].quarantine" beside it.
std::string quarantine_of(const std::string& file, uint64_t position, unsigned n = 0);

}  // namespace pspf::paths
