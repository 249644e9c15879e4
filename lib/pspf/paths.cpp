#include "pspf/paths.h"

#include <fmt/format.h>

#include <unistd.h>

#include <charconv>

#include "pspf/clock.h"
#include "pspf/error.h"
#include "pspf/parse_int.h"

namespace pspf::paths {

void check_name(std::string_view name, std::string_view what) {
  auto fail = [&](std::string_view why) {
    throw Error(Errc::usage, fmt::format("invalid {} name '{}': {}", what, name, why));
  };
  if (name.empty()) fail("it is empty");
  if (name.size() > 249) fail("longer than 249 characters");
  // pspf-log(5): entries beginning with '.' are temporaries.
  if (name[0] == '.')
    fail("it begins with '.' (names beginning with '.' are kept for temporaries)");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) fail("only letters, digits, '.', '_' and '-' are allowed");
  }
}

std::string topics_dir(const std::string& dir) { return dir + "/topics"; }
std::string tmp_dir(const std::string& dir) { return dir + "/tmp"; }

std::string tmp_entry(const std::string& dir, std::string_view what) {
  // Named by process, not by topic or group: a 249-character name must still fit.
  return fmt::format("{}/{}-{}-{:x}", tmp_dir(dir), what, ::getpid(), now_ms().value);
}

std::string topic_dir(const std::string& dir, std::string_view topic) {
  check_name(topic);
  return fmt::format("{}/topics/{}", dir, topic);
}

std::string topic_meta(const std::string& dir, std::string_view topic) {
  return topic_dir(dir, topic) + "/topic.json";
}

std::string partition_dir(const std::string& dir, std::string_view topic, PartitionId p) {
  return fmt::format("{}/{}", topic_dir(dir, topic), p.value);
}

std::string partition_lock(const std::string& partition_dir) { return partition_dir + "/lock"; }

std::string removed_keys(const std::string& partition_dir) {
  return partition_dir + "/removed-keys";
}

std::string compact_lock(const std::string& dir, std::string_view topic) {
  return topic_dir(dir, topic) + "/compact.lock";
}

std::string groups_dir(const std::string& dir) { return dir + "/groups"; }

std::string group_dir(const std::string& dir, std::string_view group) {
  check_name(group, "group");
  return fmt::format("{}/groups/{}", dir, group);
}

std::string group_offsets(const std::string& group_dir) { return group_dir + "/offsets.log"; }
std::string group_lock(const std::string& group_dir) { return group_dir + "/lock"; }
std::string group_members_dir(const std::string& group_dir) { return group_dir + "/members"; }

std::string group_owners_dir(const std::string& group_dir, std::string_view topic) {
  check_name(topic);
  return fmt::format("{}/owners/{}", group_dir, topic);
}

std::string group_owner_lock(const std::string& group_dir, std::string_view topic, PartitionId p) {
  return fmt::format("{}/{}", group_owners_dir(group_dir, topic), p.value);
}

std::string segment_file(const std::string& partition_dir, Offset base, std::string_view ext) {
  return fmt::format("{}/{:020d}{}", partition_dir, base.value, ext);
}

std::optional<Offset> parse_segment_name(std::string_view filename, std::string_view ext) {
  if (filename.size() != 20 + ext.size() || filename.substr(20) != ext) return std::nullopt;
  // A sign is not a digit: "-0000000000000000000.log" is not a segment name.
  if (filename[0] < '0' || filename[0] > '9') return std::nullopt;
  std::optional<int64_t> v = parse_int<int64_t>(filename.substr(0, 20));
  if (!v) return std::nullopt;
  return Offset(*v);
}

std::string swap_file(const std::string& partition_dir, Offset base, std::string_view ext,
                      uint64_t token) {
  return fmt::format("{}/{:020d}{}.{:016x}.cleaned", partition_dir, base.value, ext, token);
}

std::optional<SwapName> parse_swap_name(std::string_view filename) {
  constexpr std::string_view kSuffix = ".cleaned";
  if (filename.size() < 20 + kSuffix.size() + 17 ||
      filename.substr(filename.size() - kSuffix.size()) != kSuffix)
    return std::nullopt;
  std::string_view rest = filename.substr(0, filename.size() - kSuffix.size());
  // rest = <20 digits><ext>.<16 hex>
  std::string_view hex = rest.substr(rest.size() - 16);
  if (rest[rest.size() - 17] != '.') return std::nullopt;
  std::string_view name = rest.substr(0, rest.size() - 17);
  SwapName out;
  std::optional<uint64_t> token = parse_int<uint64_t>(hex.substr(0, 16), 16);
  if (!token) return std::nullopt;
  out.token = *token;
  for (std::string_view ext : {kLogExt, kIndexExt, kTimeIndexExt}) {
    if (auto base = parse_segment_name(name, ext)) {
      out.base = *base;
      out.ext = ext;
      return out;
    }
  }
  return std::nullopt;
}

std::string quarantine_file(const std::string& partition_dir, Offset base, uint64_t position,
                            unsigned n) {
  return quarantine_of(segment_file(partition_dir, base, kLogExt), position, n);
}

std::string quarantine_of(const std::string& file, uint64_t position, unsigned n) {
  if (n == 0) return fmt::format("{}.{}.quarantine", file, position);
  return fmt::format("{}.{}.{}.quarantine", file, position, n);
}

}  // namespace pspf::paths
