// LineReader: splits an input file descriptor into lines through one large buffer,
// without copying lines out. Each line handed out is followed in memory by at least
// kJsonPadding readable bytes, so the JSON parser can read ahead without a copy.
// "\n" ends a line; a "\r" before it is dropped (CRLF input). The last line needs no
// newline.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pspf {

class LineReader {
 public:
  // `fd` is borrowed. Lines longer than `max_line` bytes are not returned whole: see
  // next().
  LineReader(int fd, std::string name, size_t max_line);
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  enum class Status { line, too_long, end };
  // Reads the next line into `line` (valid until the next call). Returns too_long
  // for a line over max_line bytes: `line` holds it whole when it fitted in the
  // buffer; a longer one is skipped through its newline, its bytes handed to the
  // overflow sink (if set) as they pass, and `line` is empty. Returns end at the end
  // of input. Throws Error(io).
  Status next(std::string_view& line);

  // Number of the line last returned, from 1.
  uint64_t line_number() const { return line_no_; }
  const std::string& name() const { return name_; }
  // True when the reader has no buffered line and reading now would wait (a pipe or
  // terminal whose writer is idle). Always false for regular files.
  bool idle() const;
  // When *flag becomes non-zero (set by a signal handler), a read interrupted by the
  // signal ends the input: next() returns end. `flag` must outlive the reader.
  void stop_when(const volatile std::sig_atomic_t* flag) { stop_ = flag; }
  // Where the bytes of a too-long line that could not be held go (see next()).
  void on_overflow(std::function<void(std::string_view)> sink) { overflow_ = std::move(sink); }

 private:
  bool fill();

  int fd_;
  std::string name_;
  size_t max_line_;
  std::unique_ptr<char[]> buf_;
  size_t cap_;
  size_t start_ = 0;  // first unread byte
  size_t end_ = 0;    // end of the data in buf_
  bool eof_ = false;
  bool regular_ = false;
  uint64_t line_no_ = 0;
  const volatile std::sig_atomic_t* stop_ = nullptr;
  std::function<void(std::string_view)> overflow_;
};

}  // namespace pspf
