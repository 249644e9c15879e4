// Quarantine: recovery never destroys bytes. Whatever a writer or a repair cuts from
// a partition (a torn tail, a suspect last batch, a damaged region and everything
// after it, whole later segments) is first moved to a quarantine file beside its
// segment (paths::quarantine_file, pspf-log(5) QUARANTINE) and made durable, file
// then directory, before the cut: a crash in between leaves the bytes in both places,
// never in neither. Quarantine files are never read by pspf; a user inspects them and
// re-appends what they hold.
//
// Every function here is called under the partition lock.
#pragma once

#include <cstdint>
#include <string>

#include "pspf/types.h"

namespace pspf {

// Copies bytes [from, end of file) of segment `base` of `partition_dir` (open
// read-write as `fd`, named `path`) to a new quarantine file, syncs it and the
// directory, then truncates the segment at `from` and syncs it. Returns the
// quarantine file's path. Throws Error(io); when the copy fails, the segment is
// unchanged and no quarantine file is left. Precondition: from < the file's size.
std::string cut_to_quarantine(const std::string& partition_dir, Offset base, int fd,
                              const std::string& path, uint64_t from);

// Renames the whole segment `base` to a quarantine file (position 0), syncing the
// directory, and removes its index files (caches of what is gone). Returns the
// quarantine file's path. Throws Error(io).
std::string quarantine_segment(const std::string& partition_dir, Offset base);

}  // namespace pspf
