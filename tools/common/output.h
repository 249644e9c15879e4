// Output: buffered writing to standard output with write errors detected. A closed
// pipe (EPIPE) is reported as OutputClosed{broken_pipe=true}, which run_tool turns
// into a quiet exit 0; any other error exits 1.
#pragma once

#include <stdexcept>
#include <string_view>

#include "pspf/buffer.h"

namespace pspf::tool {

struct OutputClosed : std::runtime_error {
  OutputClosed(bool epipe, const char* why) : std::runtime_error(why), broken_pipe(epipe) {}
  bool broken_pipe;
};

class Output {
 public:
  explicit Output(int fd) : fd_(fd), buf_(1 << 20) {}
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // The buffer to append to directly; call maybe_flush() after each record.
  Buffer& buffer() { return buf_; }
  void write(std::string_view s) { buf_.append(s); }
  // Flushes when the buffer is large, or after every line when line_buffered.
  void maybe_flush() {
    if (line_buffered_ || buf_.size() >= kFlushAt) flush();
  }
  // Writes out everything buffered. Throws OutputClosed on failure.
  void flush();
  void set_line_buffered(bool on) { line_buffered_ = on; }

 private:
  static constexpr size_t kFlushAt = 1 << 20;
  int fd_;
  Buffer buf_;
  bool line_buffered_ = false;
};

// The process's stdout as an Output.
Output& stdout_output();

}  // namespace pspf::tool
