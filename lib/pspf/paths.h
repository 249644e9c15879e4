// Paths: every on-disk name in the data directory comes from here (pspf-log(5)).
//
//   DIR/topics/<topic>/topic.json
//   DIR/topics/<topic>/<partition>/<base offset, 20 digits>.log|.index|.timeindex
//   DIR/topics/<topic>/<partition>/lock
//   DIR/groups/<group>/...
//
// Topic names are checked here so that no name can reach outside the data directory.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pspf/types.h"

namespace pspf::paths {

// Throws Error(usage) unless `name` is 1..249 characters of [A-Za-z0-9._-] and not
// "." or "..". `what` names the thing in the message ("topic", "group").
void check_name(std::string_view name, std::string_view what = "topic");

std::string topics_dir(const std::string& dir);
std::string topic_dir(const std::string& dir, std::string_view topic);
std::string topic_meta(const std::string& dir, std::string_view topic);
std::string partition_dir(const std::string& dir, std::string_view topic, PartitionId p);
std::string partition_lock(const std::string& partition_dir);

// "<20-digit base offset><ext>", ext one of kLogExt, kIndexExt, kTimeIndexExt.
inline constexpr std::string_view kLogExt = ".log";
inline constexpr std::string_view kIndexExt = ".index";
inline constexpr std::string_view kTimeIndexExt = ".timeindex";
std::string segment_file(const std::string& partition_dir, Offset base, std::string_view ext);
// The base offset of a segment file name with extension `ext`, or nullopt when the
// name is not of that form.
std::optional<Offset> parse_segment_name(std::string_view filename, std::string_view ext);

}  // namespace pspf::paths
