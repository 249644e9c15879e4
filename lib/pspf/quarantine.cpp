#include "pspf/quarantine.h"

#include <cassert>

#include "pspf/file.h"
#include "pspf/paths.h"
#include "pspf/record_file.h"

namespace pspf {

std::string cut_to_quarantine([[maybe_unused]] const std::string& partition_dir,
                              [[maybe_unused]] Offset base, int fd, const std::string& path,
                              uint64_t from) {
  // The quarantine file is named after `path`, which is this segment's file.
  assert(path == paths::segment_file(partition_dir, base, paths::kLogExt));
  return quarantine_tail(fd, path, from);
}

std::string quarantine_segment(const std::string& partition_dir, Offset base) {
  std::string log = paths::segment_file(partition_dir, base, paths::kLogExt);
  std::string q = free_quarantine_name(log, 0);
  // rename_path syncs the directory: the segment is never gone without its quarantine.
  rename_path(log, q);
  for (auto ext : {paths::kIndexExt, paths::kTimeIndexExt})
    remove_file(paths::segment_file(partition_dir, base, ext));
  return q;
}

}  // namespace pspf
