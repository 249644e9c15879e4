#include "pspf/segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "pspf/error.h"
#include "pspf/file.h"

namespace pspf {

namespace {
constexpr size_t kReadChunk = 2u << 20;
}

SegmentReader::SegmentReader(int fd, std::string path, uint64_t pos)
    : fd_(fd), path_(std::move(path)), pos_(pos), buf_(kReadChunk), buf_start_(pos) {}

void SegmentReader::seek(uint64_t pos) {
  pos_ = pos;
  buf_start_ = pos;
  buf_.clear();
}

size_t SegmentReader::fill(size_t need) {
  uint64_t buf_end = buf_start_ + buf_.size();
  size_t have = pos_ >= buf_start_ && pos_ <= buf_end ? static_cast<size_t>(buf_end - pos_) : 0;
  if (have >= need) return have;
  // Keep the unread bytes, move them to the front, and read as much as fits.
  if (have > 0) std::memmove(buf_.data(), buf_.data() + (pos_ - buf_start_), have);
  buf_start_ = pos_;
  size_t want = std::max(need, kReadChunk);
  buf_.resize(std::max(want, buf_.capacity()));
  size_t got = pread_full(fd_, buf_.data() + have, buf_.size() - have, pos_ + have, path_);
  buf_.resize(have + got);
  return have + got;
}

bool SegmentReader::zeros_to_end(uint64_t from) {
  char chunk[65536];
  for (;;) {
    size_t n = pread_full(fd_, chunk, sizeof chunk, from, path_);
    for (size_t i = 0; i < n; ++i)
      if (chunk[i] != 0) return false;
    if (n < sizeof chunk) return true;
    from += n;
  }
}

bool SegmentReader::more_data_after(uint64_t end) {
  char c;
  return pread_full(fd_, &c, 1, end, path_) == 1;
}

BatchStatus SegmentReader::bad_header(std::string why) {
  reason_ = fmt::format("bad batch at byte {}: {}", pos_, why);
  return zeros_to_end(pos_) ? BatchStatus::torn : BatchStatus::corrupt;
}

BatchStatus SegmentReader::next(const char*& data, BatchHeader& h) {
  size_t avail = fill(kBatchHeaderSize);
  if (avail == 0) return BatchStatus::end;
  if (avail < kBatchHeaderSize) {
    reason_ = fmt::format("incomplete batch header at byte {}", pos_);
    return BatchStatus::torn;
  }
  const char* p = buf_.data() + (pos_ - buf_start_);
  uint32_t magic;
  std::memcpy(&magic, p, sizeof magic);
  h = decode_batch_header(p);
  if (magic != kBatchMagic) return bad_header("no batch magic");
  if (header_checksum(p) != h.header_check) return bad_header("header checksum mismatch");
  if (auto problem = header_problem(h)) return bad_header(*problem);
  if (avail < h.length) {
    avail = fill(h.length);
    p = buf_.data() + (pos_ - buf_start_);
    if (avail < h.length) {
      reason_ = fmt::format("batch at byte {} is {} bytes but the file has {}", pos_, h.length, avail);
      return BatchStatus::torn;
    }
  }
  if (batch_checksum(p, h.length) != h.checksum) {
    if (more_data_after(pos_ + h.length)) {
      reason_ = fmt::format("bad batch at byte {}: checksum mismatch", pos_);
      return BatchStatus::corrupt;
    }
    reason_ = fmt::format("bad batch at byte {}: checksum mismatch in a complete last batch", pos_);
    return BatchStatus::suspect;
  }
  if (h.base_offset < min_offset_) {
    reason_ = fmt::format("bad batch at byte {}: base offset {} is below {}", pos_,
                          h.base_offset.value, min_offset_.value);
    return BatchStatus::corrupt;
  }
  data = p;
  batch_pos_ = pos_;
  pos_ += h.length;
  min_offset_ = h.next_offset();
  return BatchStatus::ok;
}

}  // namespace pspf
