#include "pspf/error.h"

#include <cerrno>
#include <cstring>

namespace pspf {

void throw_errno(const std::string& what, int err) {
  throw Error(Errc::io, what + ": " + std::strerror(err));
}

void throw_errno(const std::string& what) { throw_errno(what, errno); }

}  // namespace pspf
