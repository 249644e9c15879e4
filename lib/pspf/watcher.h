// Watcher: waits until something changes in a set of directories (a batch appended,
// a segment created), using inotify rather than polling.
#pragma once

#include <string>
#include <vector>

#include "pspf/file.h"

namespace pspf {

class Watcher {
 public:
  // Starts watching; changes made after this returns are never missed.
  explicit Watcher(const std::vector<std::string>& dirs);
  // Waits up to timeout_ms (-1: no limit) for a change; returns true if one came.
  // Returns false early when interrupted by a signal.
  bool wait(int timeout_ms);
  // For callers that poll several descriptors: readable when something changed.
  int fd() const { return fd_.get(); }
  // Discards the queued change events (after fd() was readable).
  void drain();

 private:
  Fd fd_;
};

}  // namespace pspf
