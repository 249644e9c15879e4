#include "pspf/record_file.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/le.h"
#include "pspf/paths.h"
#include "pspf/xxh3.h"

namespace pspf {

namespace {

// Quarantine copies go through a buffer of this size.
constexpr uint64_t kQuarantineChunk = 1u << 20;

std::optional<std::string> simple_check_header(const FrameFormat& f, const char* p,
                                               uint64_t& length) {
  uint32_t len = le::load<uint32_t>(p + 4);
  if (len < f.min_payload || len > f.max_payload)
    return fmt::format("payload length {} is outside {}..{}", len, f.min_payload, f.max_payload);
  length = kSimpleFrameHeader + len;
  return std::nullopt;
}

// The seed of a frame's checksum (FrameFormat::seed_with_length), and where it is.
uint64_t checksum_seed(const FrameFormat& f, uint64_t length) {
  return f.seed_with_length ? length - f.header_size : 0;
}
uint64_t stored_checksum(const char* header) { return le::load<uint64_t>(header + 8); }

}  // namespace

bool frame_checksum_matches(const FrameFormat& f, const char* p, uint64_t length) {
  uint64_t n = length - f.header_size;
  return xxh3_64(p + f.header_size, n, checksum_seed(f, length)) == stored_checksum(p);
}

FrameFormat simple_frame_format(const char* what, uint32_t magic, uint32_t min_payload,
                                uint32_t max_payload, bool seed_with_length) {
  FrameFormat f{what, magic, kSimpleFrameHeader, simple_check_header,
                /*header_checked=*/false};
  f.min_payload = min_payload;
  f.max_payload = max_payload;
  f.seed_with_length = seed_with_length;
  return f;
}

std::string encode_simple_frame(const FrameFormat& f, std::string_view payload) {
  std::string out;
  out.reserve(kSimpleFrameHeader + payload.size());
  le::append<uint32_t>(out, f.magic);
  le::append<uint32_t>(out, static_cast<uint32_t>(payload.size()));
  le::append<uint64_t>(out, xxh3_64(payload.data(), payload.size(),
                                    checksum_seed(f, kSimpleFrameHeader + payload.size())));
  out += payload;
  return out;
}

FrameReader::FrameReader(const FrameFormat& format, int fd, std::string path, uint64_t pos,
                         size_t chunk)
    : f_(format), fd_(fd), path_(std::move(path)), chunk_(chunk), pos_(pos), buf_start_(pos) {
  buf_.use_huge_pages();  // a run of 1 MB frames keeps a 2 MB buffer busy
}

void FrameReader::seek(uint64_t pos) {
  pos_ = pos;
  buf_start_ = pos;
  buf_.clear();
}

size_t FrameReader::fill(size_t need) {
  uint64_t buf_end = buf_start_ + buf_.size();
  size_t have = pos_ >= buf_start_ && pos_ <= buf_end ? static_cast<size_t>(buf_end - pos_) : 0;
  if (have >= need) return have;
  // Keep the unread bytes and move them to the front. Then read as much as fits, or,
  // for a frame larger than a quarter chunk, that frame and the next header exactly:
  // else the bytes after it would be the start of the next large frame, moved again
  // at the next fill (with batches of 1 MB and a 2 MB chunk, pspf-replay spent 7% of
  // its time moving them). The buffer's pages are touched only as they are read into.
  if (have > 0) std::memmove(buf_.data(), buf_.data() + (pos_ - buf_start_), have);
  buf_start_ = pos_;
  size_t want =
      need > chunk_ / 4 ? need + f_.header_size : std::max({need, chunk_, buf_.capacity()});
  buf_.resize(want);
  size_t got = pread_full(fd_, buf_.data() + have, want - have, pos_ + have, path_);
  buf_.resize(have + got);
  return have + got;
}

bool FrameReader::zeros_to_end(uint64_t from) {
  char chunk[65536];
  for (;;) {
    size_t n = pread_full(fd_, chunk, sizeof chunk, from, path_);
    for (size_t i = 0; i < n; ++i)
      if (chunk[i] != 0) return false;
    if (n < sizeof chunk) return true;
    from += n;
  }
}

bool FrameReader::more_data_after(uint64_t end) {
  char c;
  return pread_full(fd_, &c, 1, end, path_) == 1;
}

std::optional<uint64_t> FrameReader::valid_frame_after(uint64_t from) {
  // Only on the rare path of a bad last frame, in small files: read the rest whole.
  std::string rest = read_to_end(fd_, path_, from);
  for (size_t q = 1; q + f_.header_size <= rest.size(); ++q) {
    const char* p = rest.data() + q;
    uint64_t length = 0;
    if (le::load<uint32_t>(p) != f_.magic || f_.check_header(f_, p, length)) continue;
    if (length <= rest.size() - q && frame_checksum_matches(f_, p, length)) return from + q;
  }
  return std::nullopt;
}

FrameStatus FrameReader::bad_header(const std::string& why) {
  reason_ = fmt::format("bad {} at byte {}: {}", f_.what, pos_, why);
  return zeros_to_end(pos_) ? FrameStatus::torn : FrameStatus::corrupt;
}

FrameStatus FrameReader::bad_tail(FrameStatus status) {
  if (!f_.header_checked) {
    // The length is not protected: a valid frame after this one means the length was
    // damaged, and what follows is acknowledged data, not the remains of a write.
    if (auto q = valid_frame_after(pos_)) {
      reason_ = fmt::format("bad {} at byte {}: a valid {} follows at byte {}", f_.what, pos_,
                            f_.what, *q);
      return FrameStatus::corrupt;
    }
  }
  return status;
}

FrameStatus FrameReader::next(const char*& frame, uint64_t& length) {
  return read(frame, length, false);
}

FrameStatus FrameReader::check_next(const char*& header, uint64_t& length) {
  return read(header, length, true);
}

FrameStatus FrameReader::read(const char*& frame, uint64_t& length, bool streaming) {
  frame = nullptr;
  size_t avail = fill(f_.header_size);
  if (avail == 0) return FrameStatus::end;
  if (avail < f_.header_size) {
    reason_ = fmt::format("incomplete {} header at byte {}", f_.what, pos_);
    return bad_tail(FrameStatus::torn);
  }
  const char* p = buf_.data() + (pos_ - buf_start_);
  frame = p;
  if (le::load<uint32_t>(p) != f_.magic) return bad_header(fmt::format("no {} magic", f_.what));
  if (auto problem = f_.check_header(f_, p, length)) return bad_header(*problem);
  if (avail < length) {
    if (streaming && length > chunk_ / 4) return stream_checked(frame, length);
    avail = fill(length);
    p = frame = buf_.data() + (pos_ - buf_start_);
    if (avail < length) {
      reason_ = fmt::format("{} at byte {} is {} bytes but the file has {}", f_.what, pos_, length,
                            avail);
      return bad_tail(FrameStatus::torn);
    }
  }
  return checked(frame_checksum_matches(f_, p, length), length);
}

FrameStatus FrameReader::checked(bool checksum_matches, uint64_t length) {
  if (!checksum_matches) {
    if (more_data_after(pos_ + length)) {
      reason_ = fmt::format("bad {} at byte {}: checksum mismatch", f_.what, pos_);
      return FrameStatus::corrupt;
    }
    reason_ = fmt::format("bad {} at byte {}: checksum mismatch in a complete last {}", f_.what,
                          pos_, f_.what);
    return bad_tail(FrameStatus::suspect);
  }
  frame_pos_ = pos_;
  pos_ += length;
  return FrameStatus::ok;
}

FrameStatus FrameReader::stream_checked(const char*& header, uint64_t length) {
  const char* p = buf_.data() + (pos_ - buf_start_);
  header_.assign(p, f_.header_size);
  header = header_.data();
  Xxh3Stream hash(checksum_seed(f_, length));
  // The bytes after the header in the buffer, then the rest a chunk at a time into the
  // same buffer: its pages stay few and in the cache.
  uint64_t end = pos_ + length;
  uint64_t at = pos_ + f_.header_size;
  hash.update(buf_.data() + (at - buf_start_), static_cast<size_t>(buf_start_ + buf_.size() - at));
  at = buf_start_ + buf_.size();
  size_t room = std::max(chunk_, buf_.capacity());
  while (at < end) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(room, end - at));
    buf_.resize(want);
    buf_start_ = at;
    size_t got = pread_full(fd_, buf_.data(), want, at, path_);
    buf_.resize(got);
    hash.update(buf_.data(), got);
    at += got;
    if (got < want) {
      reason_ = fmt::format("{} at byte {} is {} bytes but the file has {}", f_.what, pos_, length,
                            at - pos_);
      return bad_tail(FrameStatus::torn);
    }
  }
  return checked(hash.digest() == stored_checksum(header), length);
}

FrameStatus FrameReader::reject(const std::string& why) {
  pos_ = frame_pos_;
  reason_ = fmt::format("bad {} at byte {}: {}", f_.what, pos_, why);
  return FrameStatus::corrupt;
}

ScanEnd scan_frames(
    const FrameFormat& f, int fd, const std::string& path, uint64_t from,
    const std::function<std::optional<std::string>(const char* frame, uint64_t length)>& on_frame,
    size_t chunk) {
  FrameReader r(f, fd, path, from, chunk);
  const char* frame;
  uint64_t length;
  for (;;) {
    FrameStatus s = r.next(frame, length);
    if (s == FrameStatus::ok) {
      if (auto problem = on_frame(frame, length))
        s = r.reject(*problem);
      else
        continue;
    }
    return ScanEnd{s, r.position(), s == FrameStatus::end ? std::string() : r.reason()};
  }
}

uint64_t repair_tail(int fd, const std::string& path, const ScanEnd& scan, const char* hint) {
  if (scan.status == FrameStatus::corrupt || scan.status == FrameStatus::suspect)
    throw Error(Errc::corrupt, fmt::format("{}: {}{}", path, scan.reason, hint));
  if (scan.status == FrameStatus::torn && file_size(fd, path) > scan.valid_end) {
    // A writer died mid-write; the caller holds the lock, so nobody is writing now. Cut
    // the remains durably before appending, so the next frame follows the last whole
    // one and a reader never meets the torn bytes in the middle of the file; they are
    // kept, as every byte recovery cuts.
    quarantine_tail(fd, path, scan.valid_end);
  }
  return scan.valid_end;
}

std::string free_quarantine_name(const std::string& file, uint64_t position) {
  for (unsigned n = 0;; ++n)
    if (std::string q = paths::quarantine_of(file, position, n); !path_exists(q)) return q;
}

std::string quarantine_tail(int fd, const std::string& path, uint64_t from) {
  std::string q = free_quarantine_name(path, from);
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  // O_EXCL: never write into a file that is already there.
  Fd out = open_file(q, O_WRONLY | O_CREAT | O_EXCL, 0644);
  try {
    std::string bytes;
    for (uint64_t pos = from;; pos += bytes.size()) {
      bytes = read_to_end(fd, path, pos, kQuarantineChunk);
      if (bytes.empty()) break;
      pwrite_all(out.get(), bytes.data(), bytes.size(), pos - from, q);
    }
    // The copy is durable, and so is its name, before a single byte is cut.
    sync_data(out.get(), q);
    sync_dir(dir);
  } catch (...) {
    // The file is untouched: a partial copy would only mislead. (Removing it may fail
    // on the same bad disk; the first failure is the one reported.)
    try {
      remove_file(q);
    } catch (const Error&) {
    }
    throw;
  }
  truncate_file(fd, from, path);
  sync_data(fd, path);
  return q;
}

void append_frames(int fd, const std::string& path, uint64_t at, std::string_view bytes) {
  pwrite_all(fd, bytes.data(), bytes.size(), at, path);
  // Nothing counts before this sync (pspf-log(5) DURABILITY): a crash before it leaves
  // a torn or missing frame, never an acknowledged one.
  try {
    sync_data(fd, path);
  } catch (const Error&) {
    // After a failed sync the frame's bytes are lost (a second sync may lie), yet a
    // reader would find them whole in the page cache and take the frame as written:
    // cut it off, so that what failed here is never answered from later. The cut
    // failing too leaves the frame; the sync's error is the one to report.
    try {
      truncate_file(fd, at, path);
    } catch (const Error&) {
    }
    throw;
  }
}

}  // namespace pspf
