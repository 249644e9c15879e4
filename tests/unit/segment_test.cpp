// Segments: reading batches back, and what a reader makes of every kind of damage:
// truncation at every byte length, single-bit flips anywhere, rewritten checksums.
#include <doctest/doctest.h>
#include <fcntl.h>

#include <string>
#include <vector>

#include "pspf/batch.h"
#include "pspf/file.h"
#include "pspf/segment.h"
#include "test_util.h"

using namespace pspf;

namespace {

// Three batches of 1, 2 and 3 records at offsets 0, 1 and 3; returns the bytes and
// the start position of each batch.
std::string three_batches(std::vector<size_t>& starts) {
  std::string file;
  int offset = 0;
  for (int n = 1; n <= 3; ++n) {
    BatchBuilder b;
    test::fill(b, offset, n);
    starts.push_back(file.size());
    file += b.seal(Offset(offset), Timestamp(1000 + n));
    offset += n;
  }
  return file;
}

struct ReadResult {
  std::vector<int64_t> offsets;  // base offsets of the batches read
  BatchStatus last;
  uint64_t stopped_at;
};

ReadResult read_all(const std::string& dir, const std::string& bytes) {
  std::string path = dir + "/seg.log";
  {
    Fd fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC);
    pwrite_all(fd.get(), bytes.data(), bytes.size(), 0, path);
  }
  Fd fd = open_file(path, O_RDONLY);
  SegmentReader r(fd.get(), path, 0);
  ReadResult out;
  const char* data;
  BatchHeader h;
  while ((out.last = r.next(data, h)) == BatchStatus::ok)
    out.offsets.push_back(h.base_offset.value);
  out.stopped_at = r.position();
  return out;
}

}  // namespace

TEST_CASE("a clean segment reads back every batch and ends cleanly") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  ReadResult r = read_all(dir.path(), file);
  CHECK(r.offsets == std::vector<int64_t>{0, 1, 3});
  CHECK(r.last == BatchStatus::end);
  CHECK(r.stopped_at == file.size());
}

TEST_CASE("truncating the last batch at every length drops it and nothing before it") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  for (size_t len = starts[2] + 1; len < file.size(); ++len) {
    CAPTURE(len);
    ReadResult r = read_all(dir.path(), file.substr(0, len));
    CHECK(r.offsets == std::vector<int64_t>{0, 1});
    CHECK(r.last == BatchStatus::torn);
    CHECK(r.stopped_at == starts[2]);
  }
  // Cut exactly at a batch boundary, nothing is torn.
  ReadResult r = read_all(dir.path(), file.substr(0, starts[2]));
  CHECK(r.last == BatchStatus::end);
}

TEST_CASE("a single bit flip in a middle batch is corruption at that batch's position") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  for (size_t i = starts[1]; i < starts[2]; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(i);
      CAPTURE(bit);
      std::string damaged = file;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      ReadResult r = read_all(dir.path(), damaged);
      CHECK(r.offsets == std::vector<int64_t>{0});
      CHECK(r.last == BatchStatus::corrupt);
      CHECK(r.stopped_at == starts[1]);
    }
  }
}

TEST_CASE(
    "a single bit flip in the last batch hides it: a bad header is corrupt, bad records are "
    "suspect") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  for (size_t i = starts[2]; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(i);
      CAPTURE(bit);
      std::string damaged = file;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      ReadResult r = read_all(dir.path(), damaged);
      CHECK(r.offsets == std::vector<int64_t>{0, 1});
      // The header check covers the length, so a bad header is never mistaken for a
      // batch being written; a complete batch with bad records may be damage to
      // acknowledged data or a write the disk lost: suspect, never plain torn.
      CHECK(r.last ==
            (i < starts[2] + kBatchHeaderSize ? BatchStatus::corrupt : BatchStatus::suspect));
      CHECK(r.stopped_at == starts[2]);
    }
  }
}

TEST_CASE(
    "a suspect last batch is reported with its header and becomes corrupt once data follows") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  std::string damaged = file;
  damaged[starts[2] + kBatchHeaderSize + 1] ^= 0x40;
  std::string path = dir.path() + "/seg.log";
  Fd fd = open_file(path, O_RDWR | O_CREAT | O_TRUNC);
  pwrite_all(fd.get(), damaged.data(), damaged.size(), 0, path);
  SegmentReader r(fd.get(), path, starts[2]);
  const char* data;
  BatchHeader h;
  REQUIRE(r.next(data, h) == BatchStatus::suspect);
  CHECK(h.base_offset.value == 3);
  CHECK(h.length == file.size() - starts[2]);
  CHECK(r.position() == starts[2]);
  CHECK(r.reason() ==
        fmt::format("bad batch at byte {}: checksum mismatch in a complete last batch", starts[2]));
  // A writer appends after it (it must not, but a reader sees the result): corrupt.
  pwrite_all(fd.get(), file.data(), starts[1], damaged.size(), path);
  CHECK(r.next(data, h) == BatchStatus::corrupt);
  CHECK(r.position() == starts[2]);
}

TEST_CASE("rewritten checksums still cannot hide offsets that go backwards") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  // Make batch 3 claim base offset 0 and fix both checksums so only the deeper
  // check (offsets increase) can catch it.
  std::string damaged = file;
  char* b3 = damaged.data() + starts[2];
  BatchHeader h = decode_batch_header(b3);
  h.base_offset = Offset(0);
  encode_batch_header(h, b3);
  h.checksum = batch_checksum(b3, h.length);
  encode_batch_header(h, b3);
  h.header_check = header_checksum(b3);
  encode_batch_header(h, b3);
  ReadResult r = read_all(dir.path(), damaged + file.substr(0, 0));
  CHECK(r.offsets == std::vector<int64_t>{0, 1});
  CHECK(r.last == BatchStatus::corrupt);
  CHECK(r.stopped_at == starts[2]);
}

TEST_CASE("zeros after the last batch (a file extended by a crash) are a torn tail") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  ReadResult r = read_all(dir.path(), file + std::string(4096, '\0'));
  CHECK(r.offsets == std::vector<int64_t>{0, 1, 3});
  CHECK(r.last == BatchStatus::torn);
  CHECK(r.stopped_at == file.size());
}

TEST_CASE("garbage after the last batch is corruption, not a torn tail") {
  test::TempDir dir;
  std::vector<size_t> starts;
  std::string file = three_batches(starts);
  ReadResult r = read_all(dir.path(), file + std::string(100, 'x'));
  CHECK(r.offsets == std::vector<int64_t>{0, 1, 3});
  CHECK(r.last == BatchStatus::corrupt);
  CHECK(r.stopped_at == file.size());
}
