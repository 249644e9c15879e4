#include "pspf/removed_keys.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "pspf/buffer.h"
#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/le.h"
#include "pspf/paths.h"
#include "pspf/record_file.h"

namespace pspf {

namespace {

// A simple frame (record_file.h) "PSK1", its XXH3-64 seeded with the payload length;
// a payload over 1 GiB is damage. The payload:
//   u8 kind, u64 token, i64 base, u32 key count, then per key: u32 length, the key's
//   bytes, u64 count. All little-endian.
const FrameFormat kFormat = simple_frame_format("frame", 0x314b5350, 0, 1u << 30, true);
constexpr char kHint[] = " (the file may be removed only if key versions need not be exact)";

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
  return encode_simple_frame(kFormat, payload);
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

// Reads the frames of the file open as `fd` into `out` (when not null). A torn or
// suspect last frame (record_file.h) is left out; damage throws, and so does a valid
// end short of `synced`, the synced length published for the file.
ScanEnd scan(int fd, const std::string& path, std::optional<int64_t> synced,
             std::vector<RemovalRecord>* out) {
  ScanEnd end = scan_frames(kFormat, fd, path, 0, [&](const char* frame, uint64_t length) {
    RemovalRecord r;
    if (!decode(frame + kSimpleFrameHeader, length - kSimpleFrameHeader, r))
      return std::optional<std::string>("a record that does not parse");
    if (out) out->push_back(std::move(r));
    return std::optional<std::string>();
  });
  if (end.status == FrameStatus::corrupt)
    throw Error(Errc::corrupt, fmt::format("{}: {}{}", path, end.reason, kHint));
  if (synced && end.valid_end < static_cast<uint64_t>(*synced)) {
    std::string what = end.status == FrameStatus::end ? "the file ends there" : end.reason;
    throw Error(Errc::corrupt,
                fmt::format("{}: synced records are damaged or missing: the valid records end "
                            "at byte {} ({}), but they were synced up to byte {}: key versions "
                            "rebuilt from it would go backwards{}",
                            path, end.valid_end, what, *synced, kHint));
  }
  return end;
}

// The synced length published in the partition's lock file (nullopt: none, as with a
// partition of an older pspf, or none valid: nothing is known).
std::optional<int64_t> read_synced(const std::string& partition_dir) {
  std::string lock_path = paths::partition_lock(partition_dir);
  Fd lock = open_file_if_exists(lock_path, O_RDONLY);
  if (!lock.valid()) return std::nullopt;
  return read_mark(lock.get(), lock_path, kRemovedKeysMarkAt);
}

// Publishes `length` as the synced length. The caller holds the partition lock, whose
// file exists; without one (a compacted copy being made), nothing is published.
void publish_synced(const std::string& partition_dir, uint64_t length, bool sync) {
  std::string lock_path = paths::partition_lock(partition_dir);
  Fd lock = open_file_if_exists(lock_path, O_RDWR);
  if (!lock.valid()) return;
  write_mark(lock.get(), static_cast<int64_t>(length), lock_path, kRemovedKeysMarkAt);
  if (sync) sync_data(lock.get(), lock_path);
}

}  // namespace

std::vector<RemovalRecord> read_removal_records(const std::string& partition_dir) {
  std::string path = paths::removed_keys(partition_dir);
  for (int attempt = 1;; ++attempt) {
    std::vector<RemovalRecord> out;
    // The file first, then the synced length: what was synced when the length was
    // read is in the file as opened (a writer publishes a length after its sync, and
    // lowers it before it replaces the file).
    Fd fd = open_file_if_exists(path, O_RDONLY);
    if (!fd.valid()) return out;
    std::optional<int64_t> synced = read_synced(partition_dir);
    try {
      scan(fd.get(), path, synced, &out);
    } catch (const Error& e) {
      // Replaced since it was opened (rewritten as totals): the length may be the new
      // file's. Read again.
      if (e.code() != Errc::corrupt || attempt >= 3 || !replaced_since_open(fd.get(), path)) throw;
      continue;
    }
    return out;
  }
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
  return fmt::format(
      "{}: {} records are missing from offsets {}..{} of the log, but it counts "
      "{} removed there (a record lost or damaged: rebuilt key versions would go "
      "backwards)",
      paths::removed_keys(partition_dir), missing, first_base.value, end.value - 1, counted);
}

void append_removal_records(const std::string& partition_dir,
                            const std::vector<RemovalRecord>& records,
                            const std::function<void()>& writing) {
  if (records.empty()) return;
  std::string path = paths::removed_keys(partition_dir);
  bool existed = path_exists(path);
  Fd fd = open_file(path, O_RDWR | O_CREAT, 0644);
  // 1. Past the synced length (or with none published), a torn or suspect last frame
  //    is what a writer killed before its sync left: it never committed, and we hold
  //    the lock, so it is cut off (to quarantine). Short of it, the file is damaged:
  //    scan throws, and nothing is written.
  //    A file that was not there has nothing synced, whatever the mark says: a person
  //    removed it (kHint) and gave the counts up.
  ScanEnd found =
      scan(fd.get(), path, existed ? read_synced(partition_dir) : std::nullopt, nullptr);
  if (found.status == FrameStatus::suspect) found.status = FrameStatus::torn;
  uint64_t end = repair_tail(fd.get(), path, found, kHint);
  // 2. Append and sync the frames: the commit point of their changes.
  std::string frames;
  for (const auto& r : records) frames += encode(r);
  if (writing) writing();
  append_frames(fd.get(), path, end, frames);
  if (!existed) sync_dir(partition_dir);
  // 3. Publish the new synced length (not synced itself: lost to a power loss, it is
  //    only behind, as durable_end.h says of a partition's mark).
  publish_synced(partition_dir, end + frames.size(), false);
}

void write_removed_totals(const std::string& partition_dir,
                          const std::unordered_map<std::string, uint64_t>& counts) {
  RemovalRecord r;
  r.kind = RemovalKind::totals;
  r.counts = counts;
  std::string bytes = encode(r);
  std::string path = paths::removed_keys(partition_dir);
  // 1. Lower the synced length to what both files hold, and sync it: a power loss
  //    must leave neither file short of the published length (read as records lost).
  if (std::optional<int64_t> synced = read_synced(partition_dir))
    publish_synced(partition_dir, std::min<uint64_t>(*synced, bytes.size()), true);
  // 2. Replace the file (written, synced, renamed, directory synced).
  write_file_atomic(path, bytes);
  // 3. Publish the new file's length.
  publish_synced(partition_dir, bytes.size(), false);
}

}  // namespace pspf
