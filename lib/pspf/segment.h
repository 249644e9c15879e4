// Segment: one file of consecutive batches, named by the base offset of its first
// batch. SegmentReader walks it batch by batch through a large read buffer (no
// per-record syscalls) and classifies what it finds at each position:
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
// The precise rule (pspf-log(5)): at position p in a file of size S,
//   S - p < 56, or the batch's length reaches past S        -> torn
//   bad magic, header check or header, every byte p..S is 0  -> torn
//   bad magic, header check or header otherwise              -> corrupt
//   checksum mismatch and p + length == S                    -> suspect
//   checksum mismatch and p + length <  S                    -> corrupt
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pspf/batch.h"
#include "pspf/buffer.h"

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

  // Restarts at byte `pos` (a batch boundary) without reusing the buffer's contents.
  void seek(uint64_t pos);
  uint64_t position() const { return pos_; }
  // Start of the batch returned by the last ok.
  uint64_t batch_position() const { return batch_pos_; }
  const std::string& reason() const { return reason_; }
  const std::string& path() const { return path_; }
  // With an expectation set, a batch whose base offset is below it is corrupt.
  void expect_offset_at_least(Offset o) { min_offset_ = o; }

 private:
  // Makes at least `need` bytes from pos_ available if the file has them; returns
  // the number available from pos_.
  size_t fill(size_t need);
  bool zeros_to_end(uint64_t from);
  bool more_data_after(uint64_t end);
  // A header that is not sane: torn when only zeros follow, else corrupt.
  BatchStatus bad_header(std::string why);

  int fd_;
  std::string path_;
  uint64_t pos_;
  uint64_t batch_pos_ = 0;
  Buffer buf_;
  uint64_t buf_start_ = 0;  // file position of buf_[0]
  std::string reason_;
  Offset min_offset_{0};
};

}  // namespace pspf
