// line_reader.cpp: input is split at "\n" (a "\r" before it dropped), the last line
// needs no newline, lines over the limit are reported and skipped whole, and every
// line is followed by kJsonPadding readable bytes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <string>
#include <vector>

#include "pspf/file.h"
#include "pspf/json_codec.h"
#include "pspf/line_reader.h"
#include "test_util.h"

using namespace pspf;

namespace {

struct Read {
  std::vector<std::string> lines;  // "!" + line for a too_long one
  std::vector<uint64_t> numbers;
  std::string overflow;
};

// Reads the whole of `text` (from a regular file) with a limit of `max_line`.
Read read_all(const std::string& text, size_t max_line) {
  test::TempDir tmp;
  std::string path = tmp.path() + "/in";
  write_file_atomic(path, text);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  Read out;
  {
    LineReader r(fd, "in", max_line);
    r.on_overflow([&](std::string_view bytes) { out.overflow += bytes; });
    std::string_view line;
    for (;;) {
      auto st = r.next(line);
      if (st == LineReader::Status::end) break;
      std::string got(st == LineReader::Status::too_long ? "!" : "");
      got.append(line);
      out.lines.push_back(got);
      out.numbers.push_back(r.line_number());
      // The padding after each line is readable (a parser may read ahead into it).
      if (st == LineReader::Status::line) {
        volatile char c = line.data()[line.size() + kJsonPadding - 1];
        (void)c;
      }
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("lines end at newline, a CR before it is dropped, the last needs no newline") {
  auto r = read_all("a\r\nbb\n\n{\"x\":1}\nlast", 100);
  CHECK(r.lines == std::vector<std::string>{"a", "bb", "", "{\"x\":1}", "last"});
  CHECK(r.numbers == std::vector<uint64_t>{1, 2, 3, 4, 5});
}

TEST_CASE("a final newline makes no empty last line; empty input has no line") {
  CHECK(read_all("one\n", 100).lines == std::vector<std::string>{"one"});
  CHECK(read_all("", 100).lines.empty());
  CHECK(read_all("\n", 100).lines == std::vector<std::string>{""});
}

TEST_CASE("a CR not before a newline stays in the line") {
  CHECK(read_all("a\rb\r\r\nc\n", 100).lines == std::vector<std::string>{"a\rb\r", "c"});
}

TEST_CASE("a line of exactly the limit is a line; one byte more is too long, and reading goes on") {
  auto r = read_all("1234\n12345\nok\n", 4);
  CHECK(r.lines == std::vector<std::string>{"1234", "!12345", "ok"});
  CHECK(r.numbers == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("a line longer than the buffer is skipped through its newline, its bytes to the sink") {
  std::string huge(9 << 20, 'x');  // past the reader's 4 MiB buffer
  auto r = read_all("first\n" + huge + "\nafter\n", 1024);
  REQUIRE(r.lines.size() == 3);
  CHECK(r.lines[0] == "first");
  CHECK(r.lines[1] == "!");  // too_long, and `line` empty: it did not fit
  CHECK(r.lines[2] == "after");
  CHECK(r.numbers == std::vector<uint64_t>{1, 2, 3});
  CHECK(r.overflow.size() == huge.size());
  CHECK(r.overflow == huge);
}

namespace {
// Where the reader stands in `fd`'s file: how much of it was read.
off_t read_so_far(int fd) { return ::lseek(fd, 0, SEEK_CUR); }

// A file of `n` bytes of 'x' with no newline, then "\nafter\n".
std::string long_line_file(const test::TempDir& tmp, size_t n) {
  std::string path = tmp.path() + "/long";
  write_file_atomic(path, std::string(n, 'x') + "\nafter\n");
  return path;
}
}  // namespace

TEST_CASE("with stop_at_long_line, a line too long to hold is reported at once, not read through") {
  test::TempDir tmp;
  const size_t n = 64u << 20;  // far past the 4 MiB buffer
  std::string path = long_line_file(tmp, n);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    LineReader r(fd, "long", 1024);
    r.stop_at_long_line();
    std::string sunk;
    r.on_overflow([&](std::string_view b) { sunk += b; });
    std::string_view line;
    CHECK(r.next(line) == LineReader::Status::too_long);
    CHECK(line.empty());
    CHECK(r.line_number() == 1);
    // One buffer's worth read, not the 64 MiB up to the newline (an endless line,
    // /dev/zero say, would never end).
    CHECK(read_so_far(fd) <= off_t(8u << 20));
    CHECK(sunk.empty());  // nothing is skipped, so nothing goes to the sink
    // The reader stops there: the caller stops at its first bad line.
    CHECK(r.next(line) == LineReader::Status::end);
  }
  ::close(fd);
}

TEST_CASE("a line that fits the buffer but is over the limit is reported whole either way") {
  test::TempDir tmp;
  std::string path = tmp.path() + "/in";
  write_file_atomic(path, "ok\n" + std::string(3000, 'y') + "\nafter\n");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    LineReader r(fd, "in", 1024);
    r.stop_at_long_line();
    std::string_view line;
    CHECK(r.next(line) == LineReader::Status::line);
    CHECK(line == "ok");
    CHECK(r.next(line) == LineReader::Status::too_long);
    CHECK(r.line_number() == 2);
    CHECK(r.next(line) == LineReader::Status::end);
  }
  ::close(fd);
}

TEST_CASE("a stop signal ends the skipping of a long line; the input ends there") {
  test::TempDir tmp;
  const size_t n = 64u << 20;
  std::string path = long_line_file(tmp, n);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    volatile std::sig_atomic_t stop = 0;
    LineReader r(fd, "long", 1024);
    r.stop_when(&stop);
    size_t sunk = 0;
    // The signal comes while the line is being skipped (a read of a regular file or
    // of /dev/zero is not interrupted: the flag must be looked at between reads).
    r.on_overflow([&](std::string_view b) {
      sunk += b.size();
      stop = 1;
    });
    std::string_view line;
    CHECK(r.next(line) == LineReader::Status::too_long);
    CHECK(read_so_far(fd) < off_t(n));
    CHECK(sunk < n);
    CHECK(r.next(line) == LineReader::Status::end);  // "after" is not read: input ended
  }
  ::close(fd);
}

TEST_CASE("once the stop flag is set nothing more is read, and a line not yet whole is dropped") {
  test::TempDir tmp;
  std::string path = tmp.path() + "/in";
  // "1234" would be read whole at the end of the file; stopped after "1", the "23"
  // buffered with it must not come out as a line of its own (a record cut short).
  write_file_atomic(path, "1\n23");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    volatile std::sig_atomic_t stop = 0;
    LineReader r(fd, "in", 100);
    r.stop_when(&stop);
    std::string_view line;
    REQUIRE(r.next(line) == LineReader::Status::line);
    CHECK(line == "1");
    stop = 1;
    CHECK(r.next(line) == LineReader::Status::end);
    CHECK(r.line_number() == 1);
  }
  ::close(fd);
}

TEST_CASE("lines split across reads of a pipe come out whole") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + "\n";
  // A pipe holds 64 KiB: the writer feeds it in pieces while the reader reads.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    for (size_t pos = 0; pos < text.size(); pos += 777)
      if (::write(fds[1], text.data() + pos, std::min<size_t>(777, text.size() - pos)) < 0)
        _exit(1);
    _exit(0);
  }
  ::close(fds[1]);
  LineReader r(fds[0], "pipe", 100);
  std::string_view line;
  int n = 0;
  bool all_match = true;
  while (r.next(line) == LineReader::Status::line) {
    if (line != "line " + std::to_string(n)) all_match = false;
    ++n;
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(all_match);
  CHECK(n == 20000);
  CHECK(r.line_number() == 20000);
}
