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
  static_assert(kRemovedKeysMarkAt + kSize <= 4096);
  pwrite_all(fd, raw, kSize, at, path);
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

Offset settle_durable_end(const std::string& partition_dir, const std::string& label) {
  FileLock lock(paths::partition_lock(partition_dir));
  if (!lock.lock(false)) return read_durable_end(lock.fd(), lock.path()).value_or(Offset(0));
  UnlockOnExit unlock(lock);
  std::optional<Offset> mark = read_durable_end(lock.fd(), lock.path());
  Offset end = PartitionReader(partition_dir, label).log_end();
  if (mark == end) return end;
  check_durable_end(mark, end, label);
  sync_segments_from(partition_dir, mark.value_or(Offset(0)));
  write_durable_end(lock.fd(), end, lock.path());
  return end;
}

}  // namespace pspf
