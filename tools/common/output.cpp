#include "common/output.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pspf/file.h"

namespace pspf::tool {

void Output::flush() {
  if (buf_.empty()) return;
  bool ok = write_all(fd_, buf_.data(), buf_.size());
  int err = errno;
  buf_.clear();
  if (!ok) throw OutputClosed(err == EPIPE, std::strerror(err));
}

Output& stdout_output() {
  static Output out(STDOUT_FILENO);
  return out;
}

}  // namespace pspf::tool
