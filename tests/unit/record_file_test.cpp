// The framed-file kernel through its three formats (segments, offsets.log,
// removed-keys): every file is cut at every length, every bit of a middle frame is
// flipped, and zeros are appended, and each read must stop exactly where pspf-log(5)
// FRAMING AND RECOVERY says, with the status it says and the records before it.
#include <doctest/doctest.h>
#include <fcntl.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "damage.h"
#include "pspf/clock.h"
#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/group_offsets.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "pspf/paths.h"
#include "pspf/removed_keys.h"
#include "pspf/segment.h"
#include "test_util.h"

using namespace pspf;

namespace {

// The writers here sync at every cut length: on a tmpfs when there is one, so the
// test stays fast on a busy disk (what is tested is the bytes, not the disk).
std::string fast_base() { return std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp"; }

// ---- frames of any size ----

// Frames of `sizes` payload bytes, each payload a pattern of its index.
std::string frames_of(const FrameFormat& f, const std::vector<size_t>& sizes) {
  std::string file;
  for (size_t i = 0; i < sizes.size(); ++i)
    file += encode_simple_frame(f, std::string(sizes[i], char('a' + i % 26)));
  return file;
}

// ---- segments ----

struct SegmentScan {
  std::vector<int64_t> bases;  // base offsets of the batches read, in order
  BatchStatus status = BatchStatus::ok;
  uint64_t position = 0;
  std::string reason;
};

SegmentScan scan_segment(const std::string& path) {
  Fd fd = open_file(path, O_RDONLY);
  SegmentReader r(fd.get(), path, 0);
  SegmentScan out;
  const char* data;
  BatchHeader h;
  for (;;) {
    BatchStatus s = r.next(data, h);
    if (s != BatchStatus::ok) {
      out.status = s;
      out.position = r.position();
      out.reason = r.reason();
      return out;
    }
    out.bases.push_back(h.base_offset.value);
  }
}

// A segment of three batches of 2, 3 and 2 records; `ends` gets each batch's end.
std::string three_batches(std::vector<uint64_t>& ends) {
  std::string bytes;
  BatchBuilder b;
  int first = 0;
  for (int count : {2, 3, 2}) {
    b.clear();
    test::fill(b, first, count);
    bytes += b.seal(Offset(first), Timestamp(1000 + first));
    ends.push_back(bytes.size());
    first += count;
  }
  return bytes;
}

const std::vector<int64_t> kBases = {0, 2, 5};

std::vector<int64_t> first_bases(size_t k) { return {kBases.begin(), kBases.begin() + k}; }

// How many frames end at or before `length`.
size_t whole_frames(const std::vector<uint64_t>& ends, uint64_t length) {
  size_t k = 0;
  while (k < ends.size() && ends[k] <= length) ++k;
  return k;
}

// ---- offsets.log ----

bool same(const Committed& a, const Committed& b) {
  return a.offset == b.offset && a.epoch == b.epoch && a.when == b.when && a.member == b.member &&
         a.pending_last == b.pending_last;
}

bool same(const std::map<TopicPartition, Committed>& a,
          const std::map<TopicPartition, Committed>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [tp, c] : a) {
    auto it = b.find(tp);
    if (it == b.end() || !same(c, it->second)) return false;
  }
  return true;
}

// A group whose offsets.log holds five frames, one of them of two entries; `ends`
// gets each frame's end and `seen[k]` what a reader sees after k frames.
struct GroupFixture {
  test::TempDir dir{fast_base()};
  std::string path = paths::group_offsets(paths::group_dir(dir.path(), "g"));
  std::string bytes;
  std::vector<uint64_t> ends;
  std::vector<std::map<TopicPartition, Committed>> seen;

  GroupFixture() {
    GroupOffsets g(dir.path(), "g");
    auto note = [&] {
      ends.push_back(file_size_of(path));
      seen.push_back(GroupOffsets(dir.path(), "g").load());
    };
    seen.push_back({});
    Committed c = g.claim("t", PartitionId(0), "m1");
    note();
    REQUIRE(g.commit("t", PartitionId(0), Offset(10), c.epoch, "m1"));
    note();
    g.set({{{"t", 0}, Offset(5)}, {{"t", 1}, Offset(7)}}, "admin");  // one frame, two entries
    note();
    REQUIRE(g.announce("t", PartitionId(0), Offset(9), c.epoch + 1, "admin"));
    note();
    Committed c1 = g.claim("t", PartitionId(1), "m2");
    note();
    REQUIRE(c1.offset.value == 7);
    bytes = test::read_bytes(path);
    REQUIRE(bytes.size() == ends.back());
  }
  static uint64_t file_size_of(const std::string& p) { return test::read_bytes(p).size(); }
  // Publishes `n` as the group's synced length (group_offsets.h), as a committer does
  // after its sync: a crash inside a frame leaves the length of the frames before it.
  void synced(uint64_t n) const {
    std::string lock = paths::group_lock(paths::group_dir(dir.path(), "g"));
    write_mark(open_file(lock, O_RDWR).get(), static_cast<int64_t>(n), lock);
  }
  // The file, now `damaged`, is refused by a reader naming byte `at`; a writer
  // appends nothing and leaves it as it is.
  void expect_damage_at(uint64_t at, const std::string& damaged) const {
    try {
      GroupOffsets(dir.path(), "g").load();
      FAIL("no error for damage at byte " << at);
    } catch (const Error& e) {
      CHECK(e.code() == Errc::corrupt);
      CHECK(test::names_byte(e.what(), at));
    }
    CHECK_THROWS_AS(GroupOffsets(dir.path(), "g").set({{{"u", 0}, Offset(1)}}, "w"), Error);
    CHECK(test::read_bytes(path) == damaged);
  }
};

// ---- removed-keys ----

RemovalRecord removal(RemovalKind kind, uint64_t token, int64_t base,
                      std::unordered_map<std::string, uint64_t> counts) {
  RemovalRecord r;
  r.kind = kind;
  r.token = token;
  r.base = Offset(base);
  r.counts = std::move(counts);
  return r;
}

bool same(const std::vector<RemovalRecord>& a, const std::vector<RemovalRecord>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].kind != b[i].kind || a[i].token != b[i].token || a[i].base != b[i].base ||
        a[i].counts != b[i].counts)
      return false;
  return true;
}

struct RemovedFixture {
  test::TempDir dir{fast_base()};
  std::string path = paths::removed_keys(dir.path());
  std::string bytes;
  std::vector<uint64_t> ends;
  std::vector<RemovalRecord> records = {
      removal(RemovalKind::totals, 0, 0, {{"a", 3}}),
      removal(RemovalKind::swap, 7, 100, {{"a", 1}, {"bb", 2}}),
      removal(RemovalKind::del, 0, 200, {{"ccc", 4}}),
      removal(RemovalKind::swap, 9, 300, {}),
  };

  RemovedFixture() {
    for (const auto& r : records) {
      append_removal_records(dir.path(), {r});
      ends.push_back(test::read_bytes(path).size());
    }
    bytes = test::read_bytes(path);
  }
  std::vector<RemovalRecord> first(size_t k) const {
    return {records.begin(), records.begin() + k};
  }
};

}  // namespace

TEST_CASE("a segment cut at every length reads the whole batches before the cut, then torn") {
  test::TempDir dir;
  std::string path = dir.path() + "/seg.log";
  std::vector<uint64_t> ends;
  std::string bytes = three_batches(ends);
  for (size_t len = 0; len <= bytes.size(); ++len) {
    CAPTURE(len);
    test::write_bytes(path, test::cut_at(bytes, len));
    size_t k = whole_frames(ends, len);
    uint64_t stop = k == 0 ? 0 : ends[k - 1];
    SegmentScan s = scan_segment(path);
    CHECK(s.bases == first_bases(k));
    CHECK(s.position == stop);
    CHECK(s.status == (len == stop ? BatchStatus::end : BatchStatus::torn));
  }
}

TEST_CASE("every bit flipped in a middle batch of a segment is corruption at its start") {
  test::TempDir dir;
  std::string path = dir.path() + "/seg.log";
  std::vector<uint64_t> ends;
  std::string bytes = three_batches(ends);
  for (uint64_t bit = ends[0] * 8; bit < ends[1] * 8; ++bit) {
    CAPTURE(bit);
    test::write_bytes(path, test::flip_bit(bytes, bit));
    SegmentScan s = scan_segment(path);
    CHECK(s.bases == first_bases(1));
    CHECK(s.status == BatchStatus::corrupt);
    CHECK(s.position == ends[0]);
    CHECK(test::names_byte(s.reason, ends[0]));
  }
}

TEST_CASE("every bit flipped in the last batch of a segment: header corrupt, records suspect") {
  test::TempDir dir;
  std::string path = dir.path() + "/seg.log";
  std::vector<uint64_t> ends;
  std::string bytes = three_batches(ends);
  for (uint64_t bit = ends[1] * 8; bit < ends[2] * 8; ++bit) {
    CAPTURE(bit);
    test::write_bytes(path, test::flip_bit(bytes, bit));
    SegmentScan s = scan_segment(path);
    CHECK(s.bases == first_bases(2));
    bool in_header = bit / 8 < ends[1] + kBatchHeaderSize;
    CHECK(s.status == (in_header ? BatchStatus::corrupt : BatchStatus::suspect));
    CHECK(s.position == ends[1]);
  }
}

TEST_CASE("zeros after the last batch of a segment are a torn tail, however many") {
  test::TempDir dir;
  std::string path = dir.path() + "/seg.log";
  std::vector<uint64_t> ends;
  std::string bytes = three_batches(ends);
  for (size_t n : {1, 15, 16, 17, 55, 56, 57, 100, 70000}) {
    CAPTURE(n);
    test::write_bytes(path, test::zero_tail(bytes, n));
    SegmentScan s = scan_segment(path);
    CHECK(s.bases == kBases);
    CHECK(s.status == BatchStatus::torn);
    CHECK(s.position == bytes.size());
  }
  // One non-zero byte far past a zero run makes it damage, not a torn tail.
  test::write_bytes(path, test::write_at(test::zero_tail(bytes, 70000), bytes.size() + 69000, "x"));
  SegmentScan s = scan_segment(path);
  CHECK(s.status == BatchStatus::corrupt);
  CHECK(s.position == bytes.size());
}

TEST_CASE("offsets.log cut at the end of frame k shows exactly commit k; inside it, k-1") {
  GroupFixture f;
  for (size_t len = 0; len <= f.bytes.size(); ++len) {
    CAPTURE(len);
    test::write_bytes(f.path, test::cut_at(f.bytes, len));
    size_t k = whole_frames(f.ends, len);
    f.synced(k == 0 ? 0 : f.ends[k - 1]);
    CHECK(same(GroupOffsets(f.dir.path(), "g").load(), f.seen[k]));
  }
}

TEST_CASE("a group writer cuts a torn offsets.log at the last whole frame and appends after it") {
  GroupFixture f;
  for (size_t len = 0; len <= f.bytes.size(); ++len) {
    CAPTURE(len);
    test::write_bytes(f.path, test::cut_at(f.bytes, len));
    size_t k = whole_frames(f.ends, len);
    uint64_t stop = k == 0 ? 0 : f.ends[k - 1];
    f.synced(stop);
    GroupOffsets(f.dir.path(), "g").set({{{"u", 0}, Offset(42)}}, "w");
    std::string after = test::read_bytes(f.path);
    CHECK(after.compare(0, stop, f.bytes, 0, stop) == 0);  // the whole frames kept as they were
    auto state = GroupOffsets(f.dir.path(), "g").load();
    REQUIRE(state.count({"u", 0}) == 1);
    CHECK(state.at({"u", 0}).offset.value == 42);
    state.erase({"u", 0});
    CHECK(same(state, f.seen[k]));
    CHECK(after.size() == stop + 16 + 36 + 1 + 1);  // one frame: entry of topic "u", member "w"
  }
}

TEST_CASE("every bit flipped in a middle frame of offsets.log is corruption at its start") {
  GroupFixture f;
  uint64_t start = f.ends[1], end = f.ends[2];  // the frame of two entries
  for (uint64_t bit = start * 8; bit < end * 8; ++bit) {
    CAPTURE(bit);
    std::string damaged = test::flip_bit(f.bytes, bit);
    test::write_bytes(f.path, damaged);
    f.expect_damage_at(start, damaged);
  }
}

TEST_CASE("every bit flipped in the synced last frame of offsets.log is damage, not a torn tail") {
  GroupFixture f;
  uint64_t start = f.ends[3], end = f.ends[4];
  for (uint64_t bit = start * 8; bit < end * 8; ++bit) {
    CAPTURE(bit);
    std::string damaged = test::flip_bit(f.bytes, bit);
    test::write_bytes(f.path, damaged);
    // Synced (the length published covers it): readers and writers fail, naming where
    // the valid frames end, and nothing is cut or appended.
    f.synced(end);
    f.expect_damage_at(start, damaged);
    // Not synced yet (a committer that died before publishing it): a bit flipped past
    // the header reads as the commit never made, and the next writer cuts it.
    if (bit / 8 < start + kSimpleFrameHeader) continue;
    f.synced(start);
    CHECK(same(GroupOffsets(f.dir.path(), "g").load(), f.seen[4]));
    GroupOffsets(f.dir.path(), "g").set({{{"u", 0}, Offset(42)}}, "w");
    CHECK(test::read_bytes(f.path).compare(0, start, f.bytes, 0, start) == 0);
    CHECK(GroupOffsets(f.dir.path(), "g").load().at({"u", 0}).offset.value == 42);
  }
}

TEST_CASE("a checksum-valid offsets.log frame whose entries do not parse is corruption") {
  GroupFixture f;
  uint64_t start = f.ends[1];
  // The first entry's topic length made to reach past the frame.
  std::string damaged = test::write_at(f.bytes, start + 16 + 2, std::string("\xff\x00", 2));
  test::write_bytes(f.path, test::fix_frame_checksum(damaged, start, false));
  try {
    GroupOffsets(f.dir.path(), "g").load();
    FAIL("no error for entries that do not parse");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::corrupt);
    CHECK(test::names_byte(e.what(), start));
  }
}

TEST_CASE("zeros after the last frame of offsets.log are a torn tail, cut by the next writer") {
  GroupFixture f;
  for (size_t n : {1, 15, 16, 17, 36, 53, 100, 70000}) {
    CAPTURE(n);
    test::write_bytes(f.path, test::zero_tail(f.bytes, n));
    f.synced(f.bytes.size());  // the file put back as it was before the last commit
    CHECK(same(GroupOffsets(f.dir.path(), "g").load(), f.seen.back()));
    GroupOffsets(f.dir.path(), "g").set({{{"u", 0}, Offset(42)}}, "w");
    std::string after = test::read_bytes(f.path);
    CHECK(after.size() == f.bytes.size() + 16 + 36 + 2);
    CHECK(GroupOffsets(f.dir.path(), "g").load().at({"u", 0}).offset.value == 42);
  }
}

TEST_CASE("removed-keys cut at every length returns the whole frames before the cut") {
  RemovedFixture f;
  for (size_t len = 0; len <= f.bytes.size(); ++len) {
    CAPTURE(len);
    test::write_bytes(f.path, test::cut_at(f.bytes, len));
    size_t k = whole_frames(f.ends, len);
    CHECK(same(read_removal_records(f.dir.path()), f.first(k)));
    // The next writer cuts the torn frame and appends after the whole ones.
    append_removal_records(f.dir.path(), {f.records[3]});
    uint64_t stop = k == 0 ? 0 : f.ends[k - 1];
    std::vector<RemovalRecord> want = f.first(k);
    want.push_back(f.records[3]);
    CHECK(same(read_removal_records(f.dir.path()), want));
    CHECK(test::read_bytes(f.path).size() == stop + (f.ends[3] - f.ends[2]));
  }
}

TEST_CASE("every bit flipped in a middle frame of removed-keys is corruption at its start") {
  RemovedFixture f;
  uint64_t start = f.ends[0], end = f.ends[1];
  for (uint64_t bit = start * 8; bit < end * 8; ++bit) {
    CAPTURE(bit);
    std::string damaged = test::flip_bit(f.bytes, bit);
    test::write_bytes(f.path, damaged);
    try {
      read_removal_records(f.dir.path());
      FAIL("no error for a damaged middle frame");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::corrupt);
      CHECK(test::names_byte(e.what(), start));
    }
    CHECK_THROWS_AS(append_removal_records(f.dir.path(), {f.records[0]}), Error);
    CHECK(test::read_bytes(f.path) == damaged);
  }
}

TEST_CASE("a checksum-valid removed-keys frame that does not parse is corruption") {
  RemovedFixture f;
  uint64_t start = f.ends[0];
  std::string damaged = test::increment_byte(f.bytes, start + 16, 5);  // kind 6: unknown
  test::write_bytes(f.path, test::fix_frame_checksum(damaged, start, true));
  try {
    read_removal_records(f.dir.path());
    FAIL("no error for a frame that does not parse");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::corrupt);
    CHECK(test::names_byte(e.what(), start));
  }
}

TEST_CASE("zeros after the last frame of removed-keys are a torn tail, cut by the next writer") {
  RemovedFixture f;
  for (size_t n : {1, 15, 16, 17, 21, 100, 70000}) {
    CAPTURE(n);
    test::write_bytes(f.path, test::zero_tail(f.bytes, n));
    CHECK(same(read_removal_records(f.dir.path()), f.records));
    append_removal_records(f.dir.path(), {f.records[2]});
    std::vector<RemovalRecord> want = f.records;
    want.push_back(f.records[2]);
    CHECK(same(read_removal_records(f.dir.path()), want));
    CHECK(test::read_bytes(f.path).size() == f.bytes.size() + (f.ends[2] - f.ends[1]));
  }
}

// ---- quarantine: what a writer cuts is kept, byte for byte (pspf-log(5) QUARANTINE) ----

TEST_CASE("a torn segment tail cut by the next writer is in its quarantine file, exactly") {
  test::TempDir dir(fast_base());
  LocalLog log(dir.path());
  TopicConfig cfg;
  cfg.name = "t";
  cfg.partitions = 1;
  TopicConfig t = create_topic(dir.path(), cfg);
  auto append = [&](int n) {
    LocalProducer p(log, t, SyncMode::none);
    std::string v = test::value_of(n);
    p.add(PartitionId(0), nullptr, nullptr, {}, v);
    p.flush();
  };
  append(1);
  std::string pdir = paths::partition_dir(dir.path(), "t", PartitionId(0));
  std::string seg = paths::segment_file(pdir, Offset(0), paths::kLogExt);
  std::string good = test::read_bytes(seg);
  // A batch a writer died writing: all but its last 5 bytes reached the file.
  BatchBuilder b;
  test::fill(b, 1, 3);
  std::string whole(b.seal(Offset(1), Timestamp(now_ms().value)));
  std::string torn = whole.substr(0, whole.size() - 5);
  test::write_bytes(seg, good + torn);
  append(2);
  std::string q = paths::quarantine_file(pdir, Offset(0), good.size());
  CHECK(test::read_bytes(q) == torn);
  std::string after = test::read_bytes(seg);
  CHECK(after.compare(0, good.size(), good) == 0);
  CHECK(after.size() > good.size());  // the new batch follows the last whole one
}

TEST_CASE("a torn offsets.log tail cut by the next writer is in its quarantine file, exactly") {
  GroupFixture f;
  // The first 30 bytes of the frame of two entries: a commit a writer died writing.
  std::string torn = f.bytes.substr(f.ends[1], 30);
  test::write_bytes(f.path, f.bytes + torn);
  GroupOffsets(f.dir.path(), "g").set({{{"u", 0}, Offset(42)}}, "w");
  CHECK(test::read_bytes(paths::quarantine_of(f.path, f.bytes.size())) == torn);
  CHECK(test::read_bytes(f.path).compare(0, f.bytes.size(), f.bytes) == 0);
  // Cut again at the same place: a second file, the first one kept.
  std::string again = test::read_bytes(f.path).substr(0, f.bytes.size()) + torn.substr(0, 7);
  test::write_bytes(f.path, again);
  f.synced(f.bytes.size());  // the file put back as it was before the last commit
  GroupOffsets(f.dir.path(), "g").set({{{"u", 0}, Offset(43)}}, "w");
  CHECK(test::read_bytes(paths::quarantine_of(f.path, f.bytes.size())) == torn);
  CHECK(test::read_bytes(paths::quarantine_of(f.path, f.bytes.size(), 1)) == torn.substr(0, 7));
}

TEST_CASE("a torn removed-keys tail cut by the next writer is in its quarantine file, exactly") {
  RemovedFixture f;
  std::string torn = f.bytes.substr(f.ends[0], 25);  // most of the second frame
  test::write_bytes(f.path, f.bytes + torn);
  append_removal_records(f.dir.path(), {f.records[2]});
  CHECK(test::read_bytes(paths::quarantine_of(f.path, f.bytes.size())) == torn);
  std::vector<RemovalRecord> want = f.records;
  want.push_back(f.records[2]);
  CHECK(same(read_removal_records(f.dir.path()), want));
}

// ---- the reader's buffer ----

namespace {

// Everything a reader reports after one call, to compare two ways of reading.
struct Step {
  FrameStatus status;
  uint64_t position, frame_position, length;
  std::string header, reason;
  bool operator==(const Step&) const = default;
};

// The steps of reading the whole file with next() (`checking` false) or check_next().
std::vector<Step> read_steps(const FrameFormat& f, const std::string& path, size_t chunk,
                             bool checking) {
  Fd fd = open_file(path, O_RDONLY);
  FrameReader r(f, fd.get(), path, 0, chunk);
  std::vector<Step> steps;
  for (;;) {
    const char* p = nullptr;
    uint64_t length = 0;
    FrameStatus s = checking ? r.check_next(p, length) : r.next(p, length);
    Step step{s, r.position(), r.frame_position(), length, {}, {}};
    if (p) step.header.assign(p, f.header_size);
    if (s != FrameStatus::ok) {
      step.length = 0;  // not defined then
      step.reason = r.reason();
    }
    steps.push_back(step);
    if (s != FrameStatus::ok) return steps;
  }
}

// check_next() and next() agree on `bytes`, through small chunks (where most frames
// are checked as they stream) and a large one (where none are).
void check_next_agrees(const FrameFormat& f, const std::string& path, const std::string& bytes) {
  test::write_bytes(path, bytes);
  for (size_t chunk : {size_t(64), size_t(256), size_t(2u << 20)}) {
    CAPTURE(chunk);
    std::vector<Step> want = read_steps(f, path, chunk, false);
    std::vector<Step> got = read_steps(f, path, chunk, true);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i].status == want[i].status);
      CHECK(got[i].position == want[i].position);
      CHECK(got[i].frame_position == want[i].frame_position);
      CHECK(got[i].length == want[i].length);
      CHECK(got[i].header == want[i].header);
      CHECK(got[i].reason == want[i].reason);
    }
  }
}

// check_next_agrees() on `bytes` whole, cut at every length, and with every
// `bit_step`-th bit flipped.
void check_next_agrees_on_damage(const FrameFormat& f, const std::string& path,
                                 const std::string& bytes, size_t bit_step) {
  check_next_agrees(f, path, bytes);
  for (size_t len = 0; len < bytes.size(); ++len) {
    CAPTURE(len);
    check_next_agrees(f, path, test::cut_at(bytes, len));
  }
  for (size_t bit = 0; bit < bytes.size() * 8; bit += bit_step) {
    CAPTURE(bit);
    check_next_agrees(f, path, test::flip_bit(bytes, bit));
  }
}

}  // namespace

TEST_CASE("frames small and larger than the read chunk come back whole, whatever the chunk") {
  // A frame over a quarter chunk is read exactly with the next header; smaller ones
  // as much as fits: every mix of the two must give the same frames.
  static const FrameFormat f = simple_frame_format("frame", 0x54534554, 0, 1u << 20, true);
  std::vector<size_t> sizes = {0, 5, 300, 3, 5000, 70000, 1, 64, 65, 200000, 17, 4096, 1000, 9};
  std::string bytes = frames_of(f, sizes);
  test::TempDir dir;
  std::string path = dir.path() + "/frames";
  test::write_bytes(path, bytes);
  Fd fd = open_file(path, O_RDONLY);
  for (size_t chunk : {size_t(64), size_t(1000), size_t(4096), size_t(65536), size_t(2u << 20)}) {
    CAPTURE(chunk);
    FrameReader r(f, fd.get(), path, 0, chunk);
    uint64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const char* frame;
      uint64_t length;
      REQUIRE(r.next(frame, length) == FrameStatus::ok);
      CHECK(r.frame_position() == at);
      CHECK(length == kSimpleFrameHeader + sizes[i]);
      CHECK(std::string_view(frame, length) == std::string_view(bytes).substr(at, length));
      at += length;
    }
    const char* frame;
    uint64_t length;
    CHECK(r.next(frame, length) == FrameStatus::end);
    CHECK(r.position() == bytes.size());
  }
  // Cut inside the large frame: torn there, with every frame before it read.
  size_t large_at = frames_of(f, {sizes.begin(), sizes.begin() + 9}).size();
  test::write_bytes(path, test::cut_at(bytes, large_at + 100000));
  Fd cut = open_file(path, O_RDONLY);
  FrameReader r(f, cut.get(), path, 0, 4096);
  const char* frame;
  uint64_t length;
  for (int i = 0; i < 9; ++i) REQUIRE(r.next(frame, length) == FrameStatus::ok);
  CHECK(r.next(frame, length) == FrameStatus::torn);
  CHECK(r.position() == large_at);
  CHECK(r.reason().find("is 200016 bytes but the file has 100000") != std::string::npos);
  // check_next() streams the large frames through the small chunks: the same frames.
  check_next_agrees(f, path, bytes);
  check_next_agrees(f, path, test::cut_at(bytes, large_at + 100000));
  check_next_agrees(f, path, test::flip_bit(bytes, (large_at + 150000) * 8));
}

TEST_CASE("check_next agrees with next on simple frames: whole, cut at every length, every bit") {
  static const FrameFormat f = simple_frame_format("frame", 0x54534554, 0, 1u << 20, true);
  std::string bytes = frames_of(f, {0, 5, 300, 3, 900, 1, 64, 65, 17, 700});
  test::TempDir dir;
  check_next_agrees_on_damage(f, dir.path() + "/frames", bytes, 3);
  check_next_agrees(f, dir.path() + "/frames", bytes + std::string(100, '\0'));
}

TEST_CASE("check_next agrees with next on batches: whole, cut at every length, every bit") {
  std::vector<uint64_t> ends;
  test::TempDir dir;
  check_next_agrees_on_damage(batch_frame_format(), dir.path() + "/seg.log", three_batches(ends),
                              1);
}

TEST_CASE("SegmentReader::skip reads the headers next() reads, and stops where it stops") {
  std::vector<uint64_t> ends;
  std::string bytes = three_batches(ends);
  test::TempDir dir;
  std::string path = dir.path() + "/seg.log";
  auto headers = [&](bool skipping, BatchStatus& status, uint64_t& pos, std::string& reason) {
    Fd fd = open_file(path, O_RDONLY);
    SegmentReader r(fd.get(), path, 0);
    r.expect_offset_at_least(Offset(0));
    std::vector<int64_t> bases;
    const char* data;
    BatchHeader h;
    while ((status = skipping ? r.skip(h) : r.next(data, h)) == BatchStatus::ok)
      bases.push_back(h.base_offset.value);
    pos = r.position();
    reason = r.reason();
    return bases;
  };
  for (size_t len = 0; len <= bytes.size(); len += 7) {
    CAPTURE(len);
    test::write_bytes(path, test::cut_at(bytes, len));
    BatchStatus s1, s2;
    uint64_t p1, p2;
    std::string r1, r2;
    CHECK(headers(true, s1, p1, r1) == headers(false, s2, p2, r2));
    CHECK(s1 == s2);
    CHECK(p1 == p2);
    CHECK(r1 == r2);
  }
  // A batch whose base offset goes back is corrupt to both.
  std::string swapped = bytes.substr(ends[0], ends[1] - ends[0]) + bytes;
  test::write_bytes(path, swapped);
  BatchStatus s;
  uint64_t p;
  std::string reason;
  CHECK(headers(true, s, p, reason) == std::vector<int64_t>{2});
  CHECK(s == BatchStatus::corrupt);
  CHECK(p == ends[1] - ends[0]);
  CHECK(reason.find("base offset 0 is below 5") != std::string::npos);
}

TEST_CASE("a buffer that asks for huge pages keeps its bytes as it grows past 2 MB") {
  // (FrameReader's buffer: from 2 MB on it is 2 MB-aligned memory, copied on growth.)
  Buffer b;
  b.use_huge_pages();
  std::string want;
  for (size_t i = 0; want.size() < (5u << 20); ++i) {
    std::string piece = std::to_string(i) + ",";
    want += piece;
    b.append(piece);
  }
  CHECK(b.view() == want);
  CHECK(b.capacity() >= want.size());
  CHECK(reinterpret_cast<uintptr_t>(b.data()) % (2u << 20) == 0);
  b.clear();  // nothing to keep: the next growth starts afresh
  b.append(std::string(9u << 20, 'x'));
  CHECK(b.view() == std::string(9u << 20, 'x'));
}
