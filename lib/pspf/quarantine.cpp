#include "pspf/quarantine.h"

#include <fcntl.h>
#include <unistd.h>

#include "pspf/buffer.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/paths.h"

namespace pspf {

namespace {

constexpr size_t kCopyChunk = 1u << 20;

// The first quarantine name for (base, position) that is not taken. Only holders of
// the partition lock create these names, so the answer stays true until we create it.
std::string free_quarantine_name(const std::string& partition_dir, Offset base, uint64_t position) {
  for (unsigned n = 0;; ++n) {
    std::string q = paths::quarantine_file(partition_dir, base, position, n);
    if (!path_exists(q)) return q;
  }
}

}  // namespace

std::string cut_to_quarantine(const std::string& partition_dir, Offset base, int fd,
                              const std::string& path, uint64_t from) {
  std::string q = free_quarantine_name(partition_dir, base, from);
  // O_EXCL: never write into a file that is already there.
  Fd out = open_file(q, O_WRONLY | O_CREAT | O_EXCL, 0644);
  try {
    Buffer buf(kCopyChunk);
    buf.resize(kCopyChunk);
    for (uint64_t pos = from;;) {
      size_t n = pread_full(fd, buf.data(), kCopyChunk, pos, path);
      if (n == 0) break;
      pwrite_all(out.get(), buf.data(), n, pos - from, q);
      pos += n;
    }
    // The copy is durable, and so is its name, before a single byte is cut.
    sync_data(out.get(), q);
    sync_dir(partition_dir);
  } catch (...) {
    // The segment is untouched: a partial copy would only mislead. (Removing it may
    // fail on the same bad disk; the first failure is the one reported.)
    try {
      remove_file(q);
    } catch (const Error&) {
    }
    throw;
  }
  truncate_file(fd, from, path);
  sync_data(fd, path);
  return q;
}

std::string quarantine_segment(const std::string& partition_dir, Offset base) {
  std::string q = free_quarantine_name(partition_dir, base, 0);
  // rename_path syncs the directory: the segment is never gone without its quarantine.
  rename_path(paths::segment_file(partition_dir, base, paths::kLogExt), q);
  for (auto ext : {paths::kIndexExt, paths::kTimeIndexExt})
    remove_file(paths::segment_file(partition_dir, base, ext));
  return q;
}

}  // namespace pspf
