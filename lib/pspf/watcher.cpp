#include "pspf/watcher.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

#include "pspf/error.h"

namespace pspf {

Watcher::Watcher(const std::vector<std::string>& dirs)
    : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (!fd_.valid()) throw_errno("cannot start inotify");
  for (const auto& d : dirs)
    if (::inotify_add_watch(fd_.get(), d.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0)
      throw_errno("cannot watch " + d);
}

bool Watcher::wait(int timeout_ms) {
  struct pollfd p {
    fd_.get(), POLLIN, 0
  };
  int n = ::poll(&p, 1, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return false;
    throw_errno("cannot wait for changes");
  }
  if (n == 0) return false;
  drain();
  return true;
}

void Watcher::drain() {
  // One wake-up covers every queued event.
  alignas(struct inotify_event) char buf[16384];
  while (::read(fd_.get(), buf, sizeof buf) > 0) {
  }
}

}  // namespace pspf
