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
  // overflow sink (if set) as they pass, and `line` is empty (but see
  // stop_at_long_line()). Returns end at the end of input, and once the stop flag
  // is set (see stop_when()). Throws Error(io).
  Status next(std::string_view& line);

  // Number of the line last returned, from 1.
  uint64_t line_number() const { return line_no_; }
  const std::string& name() const { return name_; }
  // True when the reader has no buffered line and reading now would wait (a pipe or
  // terminal whose writer is idle). Always false for regular files.
  bool idle() const;
  // When *flag becomes non-zero (set by a signal handler), the input ends: nothing
  // more is read (a read the signal interrupted ends too, and a read that a signal
  // cannot interrupt, of a file or of /dev/zero, is not started), and a line not
  // yet whole is dropped, never handed out cut short. Skipping a too-long line
  // stops there as well. `flag` must outlive the reader.
  void stop_when(const volatile std::sig_atomic_t* flag) { stop_ = flag; }
  // For a caller that stops at its first bad line: a too-long line ends the input.
  // next() returns too_long as soon as a line is known to be over max_line, without
  // reading on to its newline (an input with none, /dev/zero or a binary file given
  // by mistake, would be read to its end, or forever), and end after it.
  void stop_at_long_line() { stop_at_long_ = true; }
  // Where the bytes of a too-long line that could not be held go (see next()).
  void on_overflow(std::function<void(std::string_view)> sink) { overflow_ = std::move(sink); }

 private:
  bool fill();
  // Ends the input (eof_): nothing more is read or handed out.
  void finish();

  int fd_;
  std::string name_;
  size_t max_line_;
  std::unique_ptr<char[]> buf_;
  size_t cap_;
  size_t start_ = 0;  // first unread byte
  size_t end_ = 0;    // end of the data in buf_
  bool eof_ = false;
  bool stopped_ = false;  // the input ended by the stop flag, not at its end
  bool stop_at_long_ = false;
  bool regular_ = false;
  uint64_t line_no_ = 0;
  const volatile std::sig_atomic_t* stop_ = nullptr;
  std::function<void(std::string_view)> overflow_;
};

}  // namespace pspf
