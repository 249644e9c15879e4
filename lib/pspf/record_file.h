// RecordFile: the one framed-file kernel. Segments, a group's offsets.log and a
// partition's removed-keys are each an append-only sequence of frames: a header that
// starts with a magic number and gives the frame's length, then bytes covered by a
// checksum. This module owns what they share (pspf-log(5) FRAMING AND RECOVERY):
// reading frames through a large buffer, classifying what is found at a position,
// cutting a torn tail under the writer's lock, scanning and appending. A FrameFormat
// holds what differs between them.
//
// At position p of a file of size S (as seen now), in this order:
//   p == S                                                  -> end
//   S - p < header_size                                     -> torn
//   bad magic or a header that is not sane, every byte p..S is 0    -> torn
//   bad magic or a header that is not sane, otherwise       -> corrupt
//   p + length > S                                          -> torn
//   checksum mismatch and p + length == S                   -> suspect
//   checksum mismatch and p + length <  S                   -> corrupt
//   otherwise                                               -> ok (the caller may still
//                                                              reject its contents: corrupt)
// Where the header does not protect its own length (header_checked false), a torn or
// suspect frame is corrupt instead when a valid frame starts after p: a damaged
// length must not turn acknowledged frames behind it into a "torn tail".
//
//   ok       a whole frame whose header is sane and whose checksum matches
//   end      nothing more in the file (as far as it has been written)
//   torn     a write in progress or the remains of a writer that died; readers treat
//            it as the end, the next writer cuts it off (under its lock)
//   suspect  a last frame of complete length whose checksum fails: a write a power
//            loss kept the size of but not the data, or a bit flipped in acknowledged
//            data. Readers treat it as the end; a writer asks the mark in its lock
//            file (a partition's durable end, a synced length): a frame past it was
//            never acknowledged and is cut as torn, one short of it is damage
//   corrupt  a bad frame followed by more data. Never skipped: reported with the byte
//            position.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "pspf/buffer.h"

namespace pspf {

enum class FrameStatus { ok, end, torn, suspect, corrupt };

// What differs between the framed files. A format is a constant that outlives every
// reader using it.
struct FrameFormat {
  const char* what;    // a frame in messages: "batch", "commit record", "frame"
  uint32_t magic;      // the little-endian u32 at byte 0 of every frame
  size_t header_size;  // bytes needed before a frame's length can be read
  // Why the header at `p` (header_size bytes, magic checked) cannot start a frame, or
  // nullopt with `length` set to the whole frame's size (header included).
  std::optional<std::string> (*check_header)(const FrameFormat& f, const char* p, uint64_t& length);
  // True when the header checks its own length (a segment's header check). Without
  // one, a flipped length bit in a middle frame can reach past the end of the file:
  // see the rule above.
  bool header_checked;
  // Simple 16-byte frames (simple_frame_format): payload length bounds.
  uint32_t min_payload = 0;
  uint32_t max_payload = 0;
  // Every format's checksum: the little-endian u64 at byte 8 of the header is the
  // XXH3-64 of the bytes after the header, seeded with their count when this is set
  // (else with 0). frame_checksum_matches() holds the rule.
  bool seed_with_length = false;
};

// True when the checksum in the header of the whole frame at `p` (`length` bytes)
// matches its bytes.
bool frame_checksum_matches(const FrameFormat& f, const char* p, uint64_t length);

// The format of a 16-byte-header frame: u32 magic, u32 payload length, u64 XXH3-64 of
// the payload (seeded with its length, or 0), then the payload.
FrameFormat simple_frame_format(const char* what, uint32_t magic, uint32_t min_payload,
                                uint32_t max_payload, bool seed_with_length);
// A whole simple frame holding `payload`.
std::string encode_simple_frame(const FrameFormat& f, std::string_view payload);
inline constexpr size_t kSimpleFrameHeader = 16;

// Reads frames of one file through a buffer of `chunk` bytes or more (no syscall per
// frame, no copy of a frame that is in the buffer). A frame larger than a quarter
// chunk is read alone, with the next frame's header: the buffer then holds about the
// largest frame, and a run of large frames is read without moving any of it.
class FrameReader {
 public:
  // `format` and `fd` are borrowed and must outlive the reader; `path` names the file
  // in messages. Reading starts at byte `pos`.
  FrameReader(const FrameFormat& format, int fd, std::string path, uint64_t pos = 0,
              size_t chunk = 2u << 20);
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // Classifies what is at position(). On ok, `frame` points at the whole frame
  // (`length` bytes, valid until the next call) and position() moves past it. On
  // torn, suspect and corrupt, reason() says why and position() stays; `frame` points
  // at the header when one was read (header_size bytes; `length` bytes on suspect),
  // else is null. On end, position() stays. Throws Error(io).
  FrameStatus next(const char*& frame, uint64_t& length);
  // next() for a caller that needs only the frame's header (`header`, header_size
  // bytes, valid until the next call): the same statuses, positions and reasons, but
  // a frame over a quarter chunk is checked as it streams through the buffer, never
  // held whole (no buffer the size of the largest frame to fault in and miss the cache
  // on: a writer's check of a 50 MB segment of 1 MB batches).
  FrameStatus check_next(const char*& header, uint64_t& length);
  // After ok: the frame's contents are bad (`why`). Moves position() back to its start
  // and returns corrupt, with reason() naming it.
  FrameStatus reject(const std::string& why);

  // Restarts at byte `pos` (a frame boundary) without reusing the buffer's contents.
  void seek(uint64_t pos);
  uint64_t position() const { return pos_; }
  // Start of the frame returned by the last ok.
  uint64_t frame_position() const { return frame_pos_; }
  const std::string& reason() const { return reason_; }
  const std::string& path() const { return path_; }

 private:
  size_t fill(size_t need);
  // After the frame at position() (`length` bytes) was read: ok and past it when
  // `checksum_matches`, else corrupt or suspect, as pspf-log(5) says.
  FrameStatus checked(bool checksum_matches, uint64_t length);
  // next(), or with `streaming` check_next().
  FrameStatus read(const char*& frame, uint64_t& length, bool streaming);
  // check_next() of a large frame (`length` bytes) whose header, checked, is in the
  // buffer at position(): `header` is then a copy (the buffer is reused).
  FrameStatus stream_checked(const char*& header, uint64_t length);
  bool zeros_to_end(uint64_t from);
  bool more_data_after(uint64_t end);
  std::optional<uint64_t> valid_frame_after(uint64_t from);
  FrameStatus bad_header(const std::string& why);
  // A bad frame at the end of the file: `status` (torn or suspect), unless the format
  // cannot trust its length and a valid frame follows.
  FrameStatus bad_tail(FrameStatus status);

  const FrameFormat& f_;
  int fd_;
  std::string path_;
  size_t chunk_;
  uint64_t pos_;
  uint64_t frame_pos_ = 0;
  Buffer buf_;
  uint64_t buf_start_ = 0;  // file position of buf_[0]
  std::string header_;      // stream_checked()'s copy of the frame's header
  std::string reason_;
};

// How a scan ended: `status` is end, torn, suspect or corrupt, `valid_end` the end of
// the last whole frame, `reason` what is wrong.
struct ScanEnd {
  FrameStatus status;
  uint64_t valid_end;
  std::string reason;
};

// Reads every frame from byte `from` (a frame boundary) on, calling `on_frame` with
// each whole one; a problem it returns makes that frame corrupt and ends the scan.
// Throws Error(io).
ScanEnd scan_frames(
    const FrameFormat& f, int fd, const std::string& path, uint64_t from,
    const std::function<std::optional<std::string>(const char* frame, uint64_t length)>& on_frame,
    size_t chunk = 64u << 10);

// A writer's tail repair, under its lock: when the scan found a torn frame, moves the
// bytes from its valid end on to a quarantine file (quarantine_tail), so a frame
// appended next follows the last whole one. Returns where to append. Throws
// Error(corrupt) "<path>: <reason><hint>" when the scan found damage (nothing is cut),
// Error(io).
uint64_t repair_tail(int fd, const std::string& path, const ScanEnd& scan, const char* hint = "");

// Recovery never destroys (pspf-log(5) QUARANTINE): copies bytes [from, end of file)
// of `path` (open read-write as `fd`) to a new quarantine file beside it,
// paths::quarantine_of(path, from, n) with the first free n, syncs the copy and the
// directory, then truncates the file at `from` and syncs it. Returns the quarantine
// file's path. Throws Error(io); when the copy fails, the file is unchanged and no
// quarantine file is left. Preconditions: from < the file's size; the caller holds
// the file's lock (only lock holders make these names).
std::string quarantine_tail(int fd, const std::string& path, uint64_t from);
// The first quarantine name of `file` cut at `position` that is not taken (the
// caller holds the file's lock, so it stays free until the caller creates it).
std::string free_quarantine_name(const std::string& file, uint64_t position);

// Writes whole frames `bytes` at `at` with one write and fdatasyncs the file: durable
// on return. Throws Error(io).
void append_frames(int fd, const std::string& path, uint64_t at, std::string_view bytes);

}  // namespace pspf
