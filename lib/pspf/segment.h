// Segment: one file of consecutive batches, named by the base offset of its first
// batch. SegmentReader walks it batch by batch through the framed-file kernel
// (record_file.h: a large read buffer, no per-record syscalls) and classifies what it
// finds at each position:
//
//   ok       a complete batch whose header is sane and whose checksum matches
//   end      nothing more in the file (as far as the file has been written)
//   torn     an incomplete or bad batch that reaches the end of the file: a write in
//            progress, or the remains of a writer that died. Readers treat it as the
//            end; the next writer moves it to a quarantine file and cuts it.
//   suspect  a batch of complete length with a sane header, at the end of the file,
//            whose checksum does not match: a write the disk lost (a power loss after
//            the size grew), or a bit flipped in acknowledged data. Readers treat it as
//            the end; a writer does not cut it on its own (PartitionWriter).
//   corrupt  a bad batch followed by more data, or offsets that go backwards. Never
//            skipped: the caller reports it with the segment and byte position.
//
// The precise rule is the kernel's (record_file.h, pspf-log(5) FRAMING AND RECOVERY)
// with a 56-byte header whose header check protects its length (so a bad batch is
// never mistaken for a torn one by a damaged length), suspect kept (a writer asks the
// durable end), and one rule of its own: a batch whose base offset is below the
// expected one is corrupt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pspf/batch.h"
#include "pspf/record_file.h"

namespace pspf {

enum class BatchStatus { ok, end, torn, suspect, corrupt };

class SegmentReader {
 public:
  // `fd` is borrowed and must stay open while this reader is used; `path` names the
  // file in messages. Reading starts at byte `pos`.
  SegmentReader(int fd, std::string path, uint64_t pos = 0);
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  // Reads what is at position(). On ok, `data` points at the whole batch (valid until
  // the next call) and `h` is its header, and position() moves past it. On end,
  // torn and suspect, position() stays, so a later call sees what a writer has added
  // since. On torn, suspect and corrupt, reason() says what is wrong; on suspect, `h`
  // is the batch's header (sane and checked, so its offsets can be trusted).
  BatchStatus next(const char*& data, BatchHeader& h);
  // next() without the batch's bytes, for a check of the batches (FrameReader::
  // check_next): a large batch is never held whole.
  BatchStatus skip(BatchHeader& h);

  // Restarts at byte `pos` (a batch boundary) without reusing the buffer's contents.
  void seek(uint64_t pos) { frames_.seek(pos); }
  uint64_t position() const { return frames_.position(); }
  // Start of the batch returned by the last ok.
  uint64_t batch_position() const { return frames_.frame_position(); }
  const std::string& reason() const { return frames_.reason(); }
  const std::string& path() const { return frames_.path(); }
  // With an expectation set, a batch whose base offset is below it is corrupt.
  void expect_offset_at_least(Offset o) { min_offset_ = o; }

 private:
  // The status of a frame read (its header, when there is one, into h), with the
  // base offset rule of expect_offset_at_least().
  BatchStatus verdict(FrameStatus s, const char* header, BatchHeader& h);

  FrameReader frames_;
  Offset min_offset_{0};
};

// The segment's frame format (pspf-log(5) BATCHES).
const FrameFormat& batch_frame_format();

}  // namespace pspf
