// SegmentIndex: the entry rule, seeks at, between and past entries, what a load
// keeps of a damaged file, which entry a writer trusts, and that a writer leaves a
// sound index alone.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "pspf/batch.h"
#include "pspf/file.h"
#include "pspf/paths.h"
#include "pspf/segment_index.h"
#include "pspf/segment_writer.h"
#include "test_util.h"

using namespace pspf;

namespace {

// Segment 0 of a partition directory, its batches (3 records each) and where each
// starts. Batches are `value_bytes` per record: 2000 makes each larger than
// kIndexInterval (every batch gets an entry), 10 keeps them all under one entry.
struct Seg {
  std::string dir;
  std::string log;
  std::string bytes;
  std::vector<uint64_t> starts;
};

std::string big_value(size_t n) {
  Buffer b;
  msgpack_put_str(b, std::string(n, 'x'));
  return std::string(b.view());
}

// Batch i holds offsets 3i..3i+2 and has timestamp 1000 + 10i.
Seg make_segment(const std::string& dir, int batches, size_t value_bytes) {
  Seg s{dir, paths::segment_file(dir, Offset(0), paths::kLogExt), {}, {}};
  std::string v = big_value(value_bytes);
  for (int i = 0; i < batches; ++i) {
    BatchBuilder b;
    for (int r = 0; r < 3; ++r) b.add(nullptr, nullptr, {}, v);
    s.starts.push_back(s.bytes.size());
    s.bytes += b.seal(Offset(3 * i), Timestamp(1000 + 10 * i));
  }
  write_file_atomic(s.log, s.bytes);
  return s;
}

// Notes every batch of `s` in its index, as a writer scanning the segment does.
void index_all(const Seg& s) {
  SegmentIndex idx(s.dir, Offset(0));
  for (size_t i = 0; i < s.starts.size(); ++i)
    idx.note_batch(s.starts[i], Offset(3 * int64_t(i)), Timestamp(1000 + 10 * int64_t(i)));
}

std::string index_path(const Seg& s) {
  return paths::segment_file(s.dir, Offset(0), paths::kIndexExt);
}
std::string time_path(const Seg& s) {
  return paths::segment_file(s.dir, Offset(0), paths::kTimeIndexExt);
}

void append_raw(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, read_small_file(path) + bytes);
}

// The modification time of `path` (set back by age_file, so any write shows).
int64_t mtime_of(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return int64_t(st.st_mtim.tv_sec);
}
void age_file(const std::string& path) {
  struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};  // 2001-09-09
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

SegmentWriter open_writer(const std::string& dir) {
  return SegmentWriter(dir, "p", [](BatchStatus, Offset) { return false; });
}

}  // namespace

TEST_CASE("every batch past the interval gets an entry, in both files") {
  test::TempDir dir;
  Seg s = make_segment(dir.path(), 4, 2000);
  index_all(s);
  SegmentIndex idx(s.dir, Offset(0));
  REQUIRE(idx.entries().size() == 4);
  REQUIRE(idx.time_entries().size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(idx.entries()[i].rel_offset == 3 * i);
    CHECK(idx.entries()[i].position == s.starts[i]);
    CHECK(idx.time_entries()[i].timestamp == int64_t(1000 + 10 * i));
    CHECK(idx.time_entries()[i].rel_offset == 3 * i);
  }
  CHECK(read_small_file(index_path(s)).size() == 4 * 8);
  CHECK(read_small_file(time_path(s)).size() == 4 * 12);
  CHECK(idx.damaged_index_bytes() == 0);
  CHECK(idx.damaged_time_bytes() == 0);
}

TEST_CASE("batches under the interval share the first batch's entry") {
  test::TempDir dir;
  Seg s = make_segment(dir.path(), 5, 10);
  REQUIRE(s.bytes.size() < kIndexInterval);
  index_all(s);
  SegmentIndex idx(s.dir, Offset(0));
  REQUIRE(idx.entries().size() == 1);
  CHECK(idx.entries()[0].rel_offset == 0);
  CHECK(idx.entries()[0].position == 0);
  CHECK(idx.time_entries().size() == 1);
}

TEST_CASE("floor_offset and floor_time at, between and past entries") {
  test::TempDir dir;
  Seg s = make_segment(dir.path(), 4, 2000);  // entries at offsets 0, 3, 6, 9
  index_all(s);
  SegmentIndex idx(s.dir, Offset(0));
  auto floor = [&](int64_t o) {
    IndexEntry e = idx.floor_offset(Offset(o));
    return std::pair<int64_t, uint64_t>(e.rel_offset, e.position);
  };
  CHECK(floor(0) == std::pair<int64_t, uint64_t>(0, 0));
  CHECK(floor(2) == std::pair<int64_t, uint64_t>(0, 0));
  CHECK(floor(3) == std::pair<int64_t, uint64_t>(3, s.starts[1]));
  CHECK(floor(8) == std::pair<int64_t, uint64_t>(6, s.starts[2]));
  CHECK(floor(9) == std::pair<int64_t, uint64_t>(9, s.starts[3]));
  CHECK(floor(1'000'000) == std::pair<int64_t, uint64_t>(9, s.starts[3]));
  CHECK(floor(-1) == std::pair<int64_t, uint64_t>(0, 0));
  // floor_time: the last batch whose first timestamp is strictly before t.
  CHECK(idx.floor_time(Timestamp(0)) == Offset(0));
  CHECK(idx.floor_time(Timestamp(1000)) == Offset(0));
  CHECK(idx.floor_time(Timestamp(1010)) == Offset(0));
  CHECK(idx.floor_time(Timestamp(1011)) == Offset(3));
  CHECK(idx.floor_time(Timestamp(1030)) == Offset(6));
  CHECK(idx.floor_time(Timestamp(99'999)) == Offset(9));
}

TEST_CASE("a torn or zeroed tail entry is ignored, and the next entry overwrites it") {
  test::TempDir dir;
  Seg s = make_segment(dir.path(), 4, 2000);
  // Index only the first three batches, then damage the tails.
  {
    SegmentIndex idx(s.dir, Offset(0));
    for (size_t i = 0; i < 3; ++i)
      idx.note_batch(s.starts[i], Offset(3 * int64_t(i)), Timestamp(1000 + 10 * int64_t(i)));
  }
  SUBCASE("torn: part of an entry") {
    append_raw(index_path(s), std::string("\x09\x00\x00", 3));
    append_raw(time_path(s), std::string(7, '\x01'));
    SegmentIndex idx(s.dir, Offset(0));
    CHECK(idx.entries().size() == 3);
    CHECK(idx.time_entries().size() == 3);
    CHECK(idx.damaged_index_bytes() == 3);
    CHECK(idx.damaged_time_bytes() == 7);
  }
  SUBCASE("zeroed: a whole entry of zeros (a page the crash kept, never written)") {
    append_raw(index_path(s), std::string(8, '\0'));
    append_raw(time_path(s), std::string(12, '\0'));
    SegmentIndex idx(s.dir, Offset(0));
    CHECK(idx.entries().size() == 3);
    CHECK(idx.time_entries().size() == 3);
    CHECK(idx.damaged_index_bytes() == 8);
    CHECK(idx.damaged_time_bytes() == 12);
  }
  {
    SegmentIndex idx(s.dir, Offset(0));
    idx.note_batch(s.starts[3], Offset(9), Timestamp(1030));
  }
  CHECK(read_small_file(index_path(s)).size() == 4 * 8);
  CHECK(read_small_file(time_path(s)).size() == 4 * 12);
  SegmentIndex idx(s.dir, Offset(0));
  REQUIRE(idx.entries().size() == 4);
  CHECK(idx.entries()[3].rel_offset == 9);
  CHECK(idx.entries()[3].position == s.starts[3]);
  CHECK(idx.damaged_index_bytes() == 0);
}

TEST_CASE("last_trusted skips entries whose batch is gone, torn or elsewhere") {
  test::TempDir dir;
  Seg s = make_segment(dir.path(), 4, 2000);
  index_all(s);
  auto trusted = [&] {
    Fd fd = open_file(s.log, O_RDONLY);
    return SegmentIndex(s.dir, Offset(0)).last_trusted(fd.get(), s.log);
  };
  std::optional<IndexEntry> e = trusted();
  REQUIRE(e);
  CHECK(e->rel_offset == 9);
  CHECK(e->position == s.starts[3]);
  // The last batch torn (the index page survived a crash, the log's did not).
  write_file_atomic(s.log, s.bytes.substr(0, s.starts[3] + 70));
  e = trusted();
  REQUIRE(e);
  CHECK(e->rel_offset == 6);
  CHECK(e->position == s.starts[2]);
  // Every entry moved by 3 bytes: none points at a batch.
  write_file_atomic(s.log, s.bytes);
  std::string raw = read_small_file(index_path(s));
  for (size_t i = 4; i < raw.size(); i += 8) raw[i] = char(raw[i] + 3);
  write_file_atomic(index_path(s), raw);
  CHECK_FALSE(trusted());
  // An entry at a real batch with another offset is not trusted either.
  raw = read_small_file(index_path(s));
  raw.assign(8, '\0');
  uint32_t rel = 5, pos = uint32_t(s.starts[1]);  // batch 1 holds offset 3, not 5
  std::memcpy(raw.data(), &rel, 4);
  std::memcpy(raw.data() + 4, &pos, 4);
  write_file_atomic(index_path(s), raw);
  CHECK_FALSE(trusted());
}

TEST_CASE("a damaged index is rebuilt from the log by the next writer, not trusted") {
  test::TempDir dir;
  Seg s = make_segment(dir.path(), 4, 2000);
  index_all(s);
  std::string good = read_small_file(index_path(s));
  std::string raw = good;
  for (size_t i = 4; i < raw.size(); i += 8) raw[i] = char(raw[i] + 3);
  write_file_atomic(index_path(s), raw);
  SegmentWriter w = open_writer(s.dir);
  w.refresh();
  CHECK(w.end_pos() == s.bytes.size());
  CHECK(w.next_offset() == Offset(12));
  CHECK(read_small_file(index_path(s)) == good);
  SegmentIndex idx(s.dir, Offset(0));
  CHECK(idx.entries().size() == 4);
  CHECK(idx.time_entries().size() == 4);
}

TEST_CASE("a writer opening a segment with a sound index leaves both files untouched") {
  for (size_t value_bytes : {size_t(10), size_t(2000)}) {
    CAPTURE(value_bytes);
    test::TempDir dir;
    Seg s = make_segment(dir.path(), 4, value_bytes);
    index_all(s);
    std::string index = read_small_file(index_path(s)), times = read_small_file(time_path(s));
    age_file(index_path(s));
    age_file(time_path(s));
    SegmentWriter w = open_writer(s.dir);
    w.refresh();
    CHECK(w.end_pos() == s.bytes.size());
    CHECK(w.next_offset() == Offset(12));
    CHECK(mtime_of(index_path(s)) == 1000000000);
    CHECK(mtime_of(time_path(s)) == 1000000000);
    CHECK(read_small_file(index_path(s)) == index);
    CHECK(read_small_file(time_path(s)) == times);
  }
}

TEST_CASE("IndexBuilder writes the files SegmentIndex would") {
  for (size_t value_bytes : {size_t(10), size_t(2000)}) {
    CAPTURE(value_bytes);
    test::TempDir dir;
    Seg s = make_segment(dir.path(), 4, value_bytes);
    index_all(s);
    IndexBuilder b(Offset(0));
    for (size_t i = 0; i < s.starts.size(); ++i)
      b.note_batch(s.starts[i], Offset(3 * int64_t(i)), Timestamp(1000 + 10 * int64_t(i)));
    b.write(s.dir + "/built.index", s.dir + "/built.timeindex");
    CHECK(read_small_file(s.dir + "/built.index") == read_small_file(index_path(s)));
    CHECK(read_small_file(s.dir + "/built.timeindex") == read_small_file(time_path(s)));
  }
}
