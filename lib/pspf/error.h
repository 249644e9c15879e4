// Errors: every failure in the library is a pspf::Error carrying an Errc (what kind
// of failure, which decides the exit code) and a message of the form "what: why".
#pragma once

#include <stdexcept>
#include <string>

namespace pspf {

enum class Errc {
  io,             // an operating-system call failed
  corrupt,        // data on disk fails a check (checksum, framing) where it must not
  usage,          // the caller asked for something malformed (bad topic name, bad range)
  not_found,      // a topic, partition or group does not exist
  exists,         // something to create already exists
  invalid_input,  // input data is not acceptable (not JSON, missing key field)
  condition,      // a condition the caller asked for did not hold (expected version)
  busy,           // a lock is held and the caller asked not to wait
};

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

// Throws Error(Errc::io, "<what>: <strerror(err)>"). The one place errno becomes text.
[[noreturn]] void throw_errno(const std::string& what, int err);

// Same, with the current errno.
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace pspf
