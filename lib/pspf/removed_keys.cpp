#include "pspf/removed_keys.h"

#include <fcntl.h>

#include <cstring>

#include <fmt/format.h>
#include <xxhash.h>

#include "pspf/buffer.h"
#include "pspf/error.h"
#include "pspf/le.h"
#include "pspf/file.h"
#include "pspf/paths.h"

namespace pspf {

namespace {

// Frame: u32 magic "PSK1", u32 payload length, u64 XXH3-64 of the payload seeded with
// the length, then the payload:
//   u8 kind, u64 token, i64 base, u32 key count, then per key: u32 length, the key's
//   bytes, u64 count. All little-endian.
constexpr uint32_t kMagic = 0x314b5350;  // "PSK1"
constexpr size_t kFrameHeader = 16;
constexpr uint32_t kMaxPayload = 1u << 30;

std::string encode(const RemovalRecord& r) {
  std::string payload;
  le::append<uint8_t>(payload, static_cast<uint8_t>(r.kind));
  le::append<uint64_t>(payload, r.token);
  le::append<int64_t>(payload, r.base.value);
  le::append<uint32_t>(payload, static_cast<uint32_t>(r.counts.size()));
  for (const auto& [key, n] : r.counts) {
    le::append<uint32_t>(payload, static_cast<uint32_t>(key.size()));
    payload += key;
    le::append<uint64_t>(payload, n);
  }
  std::string frame;
  le::append<uint32_t>(frame, kMagic);
  le::append<uint32_t>(frame, static_cast<uint32_t>(payload.size()));
  le::append<uint64_t>(frame, XXH3_64bits_withSeed(payload.data(), payload.size(), payload.size()));
  return frame + payload;
}

// Decodes a checksum-valid payload; false when it does not parse.
bool decode(const char* p, size_t n, RemovalRecord& r) {
  const char* end = p + n;
  if (n < 21) return false;
  uint8_t kind = le::load<uint8_t>(p);
  if (kind > 2) return false;
  r.kind = static_cast<RemovalKind>(kind);
  r.token = le::load<uint64_t>(p + 1);
  r.base = Offset(le::load<int64_t>(p + 9));
  uint32_t keys = le::load<uint32_t>(p + 17);
  p += 21;
  r.counts.clear();
  for (uint32_t i = 0; i < keys; ++i) {
    if (end - p < 4) return false;
    uint32_t len = le::load<uint32_t>(p);
    p += 4;
    if (static_cast<size_t>(end - p) < size_t{len} + 8) return false;
    r.counts[std::string(p, len)] += le::load<uint64_t>(p + len);
    p += len + 8;
  }
  return p == end;
}

// Reads the frames of `content`; returns the length of its valid prefix. A bad frame
// reaching the end of the file is torn (a write cut short); one followed by more data
// is corruption.
size_t parse_frames(const std::string& content, const std::string& path,
                    std::vector<RemovalRecord>* out) {
  size_t pos = 0;
  while (pos < content.size()) {
    const char* p = content.data() + pos;
    size_t left = content.size() - pos;
    auto bad = [&](const char* why) -> size_t {
      throw Error(Errc::corrupt, fmt::format("{}: {} at byte {} (the file may be removed only if "
                                             "key versions need not be exact)", path, why, pos));
    };
    if (left < kFrameHeader) return pos;  // torn header
    uint32_t len = le::load<uint32_t>(p + 4);
    if (le::load<uint32_t>(p) != kMagic || len > kMaxPayload) return bad("bad frame header");
    if (left - kFrameHeader < len) return pos;  // torn payload
    bool sum_ok = XXH3_64bits_withSeed(p + kFrameHeader, len, len) == le::load<uint64_t>(p + 8);
    if (!sum_ok) {
      if (left - kFrameHeader == len) return pos;  // the last frame, torn
      return bad("checksum mismatch");
    }
    RemovalRecord r;
    if (!decode(p + kFrameHeader, len, r)) return bad("a record that does not parse");
    if (out) out->push_back(std::move(r));
    pos += kFrameHeader + len;
  }
  return pos;
}

std::string read_if_exists(const std::string& path) {
  Fd fd = open_file_if_exists(path, O_RDONLY);
  if (!fd.valid()) return {};
  std::string content(file_size(fd.get(), path), '\0');
  content.resize(pread_full(fd.get(), content.data(), content.size(), 0, path));
  return content;
}

}  // namespace

std::vector<RemovalRecord> read_removal_records(const std::string& partition_dir) {
  std::string path = paths::removed_keys(partition_dir);
  std::vector<RemovalRecord> out;
  parse_frames(read_if_exists(path), path, &out);
  return out;
}

bool removal_applied(const std::string& partition_dir, const RemovalRecord& r) {
  switch (r.kind) {
    case RemovalKind::totals: return true;
    case RemovalKind::swap:
      return !path_exists(paths::swap_file(partition_dir, r.base, paths::kLogExt, r.token));
    case RemovalKind::del:
      return !path_exists(paths::segment_file(partition_dir, r.base, paths::kLogExt));
  }
  return true;
}

std::unordered_map<std::string, uint64_t> load_removed_keys(const std::string& partition_dir) {
  std::unordered_map<std::string, uint64_t> out;
  for (const auto& r : read_removal_records(partition_dir)) {
    if (!removal_applied(partition_dir, r)) continue;
    for (const auto& [key, n] : r.counts) out[key] += n;
  }
  return out;
}

std::optional<std::string> removal_shortfall(const std::string& partition_dir, Offset first_base,
                                             Offset end, uint64_t missing) {
  if (missing == 0) return std::nullopt;
  uint64_t in_range = 0, all = 0;
  bool totals = false;
  for (const auto& r : read_removal_records(partition_dir)) {
    if (!removal_applied(partition_dir, r)) continue;
    uint64_t n = 0;
    for (const auto& [key, count] : r.counts) n += count;
    all += n;
    totals = totals || r.kind == RemovalKind::totals;
    // Records of segments that retention removed before first_base, or that a repair
    // cut off after the end, account for no offset of the range.
    if (r.kind != RemovalKind::totals && r.base >= first_base && r.base < end) in_range += n;
  }
  uint64_t counted = totals ? all : in_range;
  if (counted >= missing) return std::nullopt;
  return fmt::format("{}: {} records are missing from offsets {}..{} of the log, but it counts "
                     "{} removed there (a record lost or damaged: rebuilt key versions would go "
                     "backwards)",
                     paths::removed_keys(partition_dir), missing, first_base.value, end.value - 1,
                     counted);
}

void append_removal_records(const std::string& partition_dir,
                            const std::vector<RemovalRecord>& records) {
  if (records.empty()) return;
  std::string path = paths::removed_keys(partition_dir);
  bool existed = path_exists(path);
  Fd fd = open_file(path, O_RDWR | O_CREAT, 0644);
  std::string content(file_size(fd.get(), path), '\0');
  content.resize(pread_full(fd.get(), content.data(), content.size(), 0, path));
  size_t end = parse_frames(content, path, nullptr);
  // A torn frame is what a writer killed mid-write leaves: it never committed.
  if (end < content.size()) truncate_file(fd.get(), end, path);
  std::string frames;
  for (const auto& r : records) frames += encode(r);
  pwrite_all(fd.get(), frames.data(), frames.size(), end, path);
  sync_data(fd.get(), path);
  if (!existed) sync_dir(partition_dir);
}

void write_removed_totals(const std::string& partition_dir,
                          const std::unordered_map<std::string, uint64_t>& counts) {
  RemovalRecord r;
  r.kind = RemovalKind::totals;
  r.counts = counts;
  write_file_atomic(paths::removed_keys(partition_dir), encode(r));
}

}  // namespace pspf
