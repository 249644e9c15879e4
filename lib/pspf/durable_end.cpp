#include "pspf/durable_end.h"

#include <fcntl.h>
#include <xxhash.h>

#include <fmt/format.h>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/le.h"
#include "pspf/partition.h"
#include "pspf/paths.h"

namespace pspf {

namespace {
constexpr uint32_t kMagic = 0x52554450;  // "PDUR" little-endian
constexpr uint32_t kFormat = 1;
constexpr size_t kSize = 24;
}  // namespace

std::optional<int64_t> read_mark(int fd, const std::string& path, uint64_t at) {
  char raw[kSize];
  if (pread_full(fd, raw, kSize, at, path) != kSize) return std::nullopt;
  if (le::load<uint32_t>(raw) != kMagic || le::load<uint32_t>(raw + 4) != kFormat ||
      le::load<uint64_t>(raw + 16) != XXH3_64bits(raw, 16))
    return std::nullopt;
  int64_t value = le::load<int64_t>(raw + 8);
  if (value < 0) return std::nullopt;
  return value;
}

void write_mark(int fd, int64_t value, const std::string& path, uint64_t at) {
  char raw[kSize];
  le::store<uint32_t>(raw, kMagic);
  le::store<uint32_t>(raw + 4, kFormat);
  le::store<int64_t>(raw + 8, value);
  le::store<uint64_t>(raw + 16, XXH3_64bits(raw, 16));
  // One 24-byte pwrite in the first page (every mark is there) stays within that
  // page: readers see the old or the new mark, and a torn one fails its checksum and
  // reads as "nothing known". Not synced: a mark lost to a power loss is only behind,
  // and is published again.
  static_assert(kRemovedKeysMarkAt + kSize <= kCutPendingMarkAt);
  static_assert(kCutPendingMarkAt + kSize <= 4096);
  pwrite_all(fd, raw, kSize, at, path);
}

void clear_mark(int fd, const std::string& path, uint64_t at) {
  const char zeroes[kSize] = {};
  pwrite_all(fd, zeroes, kSize, at, path);
}

std::optional<Offset> read_durable_end(int fd, const std::string& path) {
  std::optional<int64_t> end = read_mark(fd, path);
  if (!end) return std::nullopt;
  return Offset(*end);
}

std::optional<Offset> read_durable_end(const std::string& partition_dir) {
  std::string path = paths::partition_lock(partition_dir);
  Fd fd = open_file_if_exists(path, O_RDONLY);
  if (!fd.valid()) return std::nullopt;
  return read_durable_end(fd.get(), path);
}

std::optional<Offset> read_cut_pending(const std::string& partition_dir) {
  std::string path = paths::partition_lock(partition_dir);
  Fd fd = open_file_if_exists(path, O_RDONLY);
  if (!fd.valid()) return std::nullopt;
  std::optional<int64_t> to = read_mark(fd.get(), path, kCutPendingMarkAt);
  if (!to) return std::nullopt;
  return Offset(*to);
}

void write_durable_end(int fd, Offset end, const std::string& path) {
  write_mark(fd, end.value, path);
}

void check_durable_end(std::optional<Offset> mark, Offset end, const std::string& label) {
  if (!mark || *mark <= end) return;
  throw Error(Errc::corrupt,
              fmt::format("{}: acknowledged events are damaged or missing: the valid data ends "
                          "at offset {}, the durable end is {} (pspf-topics verify shows the "
                          "damage; pspf-topics repair gives offsets {} to {} up)",
                          label, end.value, mark->value, end.value, mark->value - 1));
}

void sync_segments_from(const std::string& partition_dir, Offset from) {
  std::vector<Offset> segs = list_segments(partition_dir);
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i + 1 < segs.size() && segs[i + 1] <= from) continue;  // wholly below `from`
    std::string path = paths::segment_file(partition_dir, segs[i], paths::kLogExt);
    // fdatasync on a descriptor open for reading syncs the file all the same.
    if (Fd fd = open_file_if_exists(path, O_RDONLY); fd.valid()) sync_data(fd.get(), path);
  }
}

void cut_past_durable_end(const std::string& partition_dir, int lock_fd,
                          const std::string& lock_path, Offset to, std::optional<LogPlace> place) {
  // 1. Note the cut. From here on, whoever takes the lock finishes it before it
  //    syncs anything (settle_past_mark), so a kill in step 2 cannot leave records
  //    that a later sync, on a new descriptor, would report durable falsely.
  write_mark(lock_fd, to.value, lock_path, kCutPendingMarkAt);
  // 2. Cut: the segments past `to` go, highest first, and the segment holding it is
  //    truncated. Repeating any part of it is harmless.
  cut_back(partition_dir, place ? *place : place_of(partition_dir, to));
  // 3. Clear the note. A kill before this only makes the next holder cut nothing.
  clear_mark(lock_fd, lock_path, kCutPendingMarkAt);
}

std::optional<Offset> finish_noted_cut(const std::string& partition_dir, int lock_fd,
                                       const std::string& lock_path) {
  std::optional<int64_t> to = read_mark(lock_fd, lock_path, kCutPendingMarkAt);
  if (!to) return std::nullopt;
  // A holder of the lock was killed while it cut after a failed sync: finish it.
  cut_past_durable_end(partition_dir, lock_fd, lock_path, Offset(*to));
  return Offset(*to);
}

Offset settle_past_mark(const std::string& partition_dir, int lock_fd, const std::string& lock_path,
                        Offset end, const std::string& label) {
  if (std::optional<Offset> to = finish_noted_cut(partition_dir, lock_fd, lock_path))
    end = std::min(end, *to);
  std::optional<Offset> mark = read_durable_end(lock_fd, lock_path);
  if (mark == end) return end;
  check_durable_end(mark, end, label);
  // 1. Note a cut back to the mark before the sync: a sync that fails in a process
  //    killed before it could cut must not be followed by one on a new descriptor,
  //    which may report success for pages that are gone. So until step 3, whoever
  //    takes the lock next cuts the records instead (they were never acknowledged).
  //    Without a mark there is nothing to cut back to.
  if (mark) write_mark(lock_fd, mark->value, lock_path, kCutPendingMarkAt);
  // 2. Sync. On failure, cut (the note is made again, then cleared).
  try {
    sync_segments_from(partition_dir, mark.value_or(Offset(0)));
  } catch (const Error& e) {
    if (!mark) throw;
    cut_past_durable_end(partition_dir, lock_fd, lock_path, *mark);
    throw Error(e.code(), fmt::format("{} (offsets {} to {} of {}, which a writer that died "
                                      "left unsynced and which were never acknowledged, "
                                      "were cut: the sync that failed covered them)",
                                      e.what(), mark->value, end.value - 1, label));
  }
  // 3. Clear the note, and only then 4. publish: a note never stands below a
  //    published end, so a cut never reaches records that were handed out.
  if (mark) clear_mark(lock_fd, lock_path, kCutPendingMarkAt);
  write_durable_end(lock_fd, end, lock_path);
  return end;
}

Offset settle_durable_end(const std::string& partition_dir, const std::string& label) {
  FileLock lock(paths::partition_lock(partition_dir));
  if (!lock.lock(false)) return read_durable_end(lock.fd(), lock.path()).value_or(Offset(0));
  UnlockOnExit unlock(lock);
  return settle_past_mark(partition_dir, lock.fd(), lock.path(),
                          PartitionReader(partition_dir, label).log_end(), label);
}

}  // namespace pspf
