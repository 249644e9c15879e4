#include "pspf/line_reader.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pspf/error.h"
#include "pspf/json_codec.h"

namespace pspf {

namespace {
constexpr size_t kChunk = 4u << 20;
}

LineReader::LineReader(int fd, std::string name, size_t max_line)
    : fd_(fd), name_(std::move(name)), max_line_(max_line), cap_(kChunk) {
  buf_.reset(new char[cap_ + kJsonPadding]);
  // Only the padding needs defined bytes (see fill); touching all 4 MiB here would
  // cost a short-lived command milliseconds of page faults.
  std::memset(buf_.get(), 0, kJsonPadding);
  struct stat st;
  regular_ = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

bool LineReader::fill() {
  if (eof_) return false;
  if (start_ > 0) {
    std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (end_ == cap_) {
    // A line longer than the buffer: grow, up to what a maximal line needs.
    size_t bigger = std::min(std::max(cap_ * 2, kChunk), std::max(max_line_ + 2, cap_));
    if (bigger <= cap_) return true;  // caller sees a full buffer without newline
    std::unique_ptr<char[]> b(new char[bigger + kJsonPadding]);
    std::memcpy(b.get(), buf_.get(), end_);
    std::memset(b.get() + end_, 0, kJsonPadding);
    buf_ = std::move(b);
    cap_ = bigger;
  }
  for (;;) {
    if (stop_ && *stop_) {
      stopped_ = true;
      eof_ = true;
      return false;
    }
    ssize_t n = ::read(fd_, buf_.get() + end_, cap_ - end_);
    if (n < 0) {
      if (errno == EINTR) continue;  // the flag is looked at again above
      throw_errno("cannot read " + name_);
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    end_ += static_cast<size_t>(n);
    // The parser reads up to kJsonPadding bytes past a line: keep them defined.
    std::memset(buf_.get() + end_, 0, kJsonPadding);
    return true;
  }
}

void LineReader::finish() {
  eof_ = true;
  start_ = end_;
}

LineReader::Status LineReader::next(std::string_view& line) {
  size_t scan = start_;
  for (;;) {
    char* base = buf_.get();
    void* nl = std::memchr(base + scan, '\n', end_ - scan);
    if (nl) {
      size_t pos = static_cast<size_t>(static_cast<char*>(nl) - base);
      size_t len = pos - start_;
      ++line_no_;
      const char* begin = base + start_;
      start_ = pos + 1;
      if (len > 0 && begin[len - 1] == '\r') --len;
      if (len > max_line_) {
        line = {begin, len};
        if (stop_at_long_) finish();
        return Status::too_long;
      }
      line = {begin, len};
      return Status::line;
    }
    if (end_ - start_ > max_line_ + 1) {
      // Too long to hold: pass it on and skip to the next newline.
      ++line_no_;
      line = {};
      if (stop_at_long_) {
        finish();
        return Status::too_long;
      }
      if (overflow_) overflow_({buf_.get() + start_, end_ - start_});
      for (;;) {
        start_ = end_ = 0;
        if (!fill()) return Status::too_long;
        void* n2 = std::memchr(buf_.get(), '\n', end_);
        size_t upto = n2 ? static_cast<size_t>(static_cast<char*>(n2) - buf_.get()) : end_;
        if (overflow_) overflow_({buf_.get(), upto});
        if (n2) {
          start_ = upto + 1;
          return Status::too_long;
        }
      }
    }
    size_t scanned = end_ - start_;
    if (!fill()) {
      if (stopped_) start_ = end_;  // a line cut short by the stop is not handed out
      if (end_ == start_) return Status::end;
      // Last line without a newline.
      ++line_no_;
      size_t len = end_ - start_;
      const char* begin = buf_.get() + start_;
      start_ = end_;
      if (begin[len - 1] == '\r') --len;
      line = {begin, len};
      if (len > max_line_) return Status::too_long;
      // The padding after the data must be readable: it is, the buffer has it.
      return Status::line;
    }
    scan = start_ + scanned;
  }
}

bool LineReader::idle() const {
  if (regular_ || eof_) return false;
  if (std::memchr(buf_.get() + start_, '\n', end_ - start_)) return false;
  struct pollfd p {
    fd_, POLLIN, 0
  };
  return ::poll(&p, 1, 0) == 0;
}

}  // namespace pspf
