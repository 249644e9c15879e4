// Partitions: appends, concurrent writer state, torn-tail recovery by the next
// writer, segment rolling, index loss and damage, monotonic timestamps.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/partition.h"
#include "pspf/partition_scan.h"
#include "pspf/paths.h"
#include "pspf/removed_keys.h"
#include "test_util.h"

using namespace pspf;

namespace {

Appended append(PartitionWriter& w, int first, int count, SyncMode sync = SyncMode::none) {
  BatchBuilder b;
  test::fill(b, first, count);
  return w.append(b, sync);
}

// Every record offset and key the reader returns from `from` on.
std::vector<std::pair<int64_t, std::string>> read_from(const std::string& dir,
                                                       Offset from = Offset(0)) {
  PartitionReader r(dir, "test partition");
  r.seek(from);
  std::vector<std::pair<int64_t, std::string>> out;
  BatchRef b;
  while (r.next(b)) {
    RecordIterator it(b.data, b.header);
    RecordView rec;
    while (it.next(rec))
      if (rec.offset >= from) out.emplace_back(rec.offset.value, std::string(rec.key));
  }
  return out;
}

std::string seg(const std::string& dir, int64_t base, std::string_view ext = paths::kLogExt) {
  return paths::segment_file(dir, Offset(base), ext);
}

// Appends four batches of 10 records (offsets 0..39) and returns the segment's bytes.
std::string four_batches(const std::string& dir) {
  {
    PartitionWriter w(dir, "p", 1 << 20);
    for (int i = 0; i < 4; ++i) append(w, i * 10, 10);
  }
  return read_small_file(seg(dir, 0));
}

// The start of every complete batch in a segment's bytes.
std::vector<uint64_t> batch_starts(const std::string& bytes) {
  std::vector<uint64_t> out;
  for (uint64_t p = 0; p + kBatchHeaderSize <= bytes.size();) {
    BatchHeader h = decode_batch_header(bytes.data() + p);
    if (h.length < kBatchHeaderSize || p + h.length > bytes.size()) break;
    out.push_back(p);
    p += h.length;
  }
  return out;
}

// Names in `dir` that end in ".quarantine".
std::vector<std::string> quarantine_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& n : list_dir(dir))
    if (n.size() > 11 && n.substr(n.size() - 11) == ".quarantine") out.push_back(dir + "/" + n);
  std::sort(out.begin(), out.end());
  return out;
}

// Publishes `end` as the partition's durable end: what a writer killed between its
// write and its sync leaves, when `end` is below the log's end (durable_end.h, 2).
void publish(const std::string& dir, Offset end) {
  std::string path = paths::partition_lock(dir);
  write_durable_end(open_file(path, O_RDWR).get(), end, path);
}

// The message of the Error(corrupt) that appending one record throws ("" if none).
std::string append_error(const std::string& dir) {
  PartitionWriter w(dir, "topic t partition 0", 1 << 20);
  BatchBuilder b;
  test::fill(b, 9999, 1);
  try {
    w.append(b, SyncMode::none);
  } catch (const Error& e) {
    CHECK(e.code() == Errc::corrupt);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("appends get dense offsets and read back in order") {
  test::TempDir dir;
  PartitionWriter w(dir.path(), "p", 1 << 20);
  CHECK(append(w, 0, 3).base.value == 0);
  CHECK(append(w, 3, 2).base.value == 3);
  auto recs = read_from(dir.path());
  REQUIRE(recs.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(recs[i].first == i);
    CHECK(recs[i].second == fmt::format("k{}", i));
  }
  PartitionReader r(dir.path(), "p");
  CHECK(r.log_end().value == 5);
  CHECK(r.log_start().value == 0);
}

TEST_CASE("two writers on one partition see each other's appends") {
  test::TempDir dir;
  PartitionWriter a(dir.path(), "p", 1 << 20), b(dir.path(), "p", 1 << 20);
  CHECK(append(a, 0, 2).base.value == 0);
  CHECK(append(b, 2, 3).base.value == 2);
  CHECK(append(a, 5, 1).base.value == 5);
  CHECK(read_from(dir.path()).size() == 6);
}

TEST_CASE(
    "the next writer moves a torn tail of every length to a quarantine file and appends after it") {
  test::TempDir dir;
  uint64_t good_end, full_end;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    append(w, 0, 4);
    good_end = file_size(open_file(seg(dir.path(), 0), O_RDONLY).get(), "");
    append(w, 4, 4);
    full_end = file_size(open_file(seg(dir.path(), 0), O_RDONLY).get(), "");
  }
  std::string full = read_small_file(seg(dir.path(), 0));
  std::string quarantine = paths::quarantine_file(dir.path(), Offset(0), good_end);
  CHECK(quarantine ==
        dir.path() + fmt::format("/00000000000000000000.log.{}.quarantine", good_end));
  for (uint64_t len = good_end + 1; len < full_end; len += 7) {
    CAPTURE(len);
    write_file_atomic(seg(dir.path(), 0), full.substr(0, len));
    publish(dir.path(), Offset(4));            // the second append was never acknowledged
    CHECK(read_from(dir.path()).size() == 4);  // the torn batch is invisible
    PartitionWriter w(dir.path(), "p", 1 << 20);
    Appended a = append(w, 100, 1);
    CHECK(a.base.value == 4);
    CHECK(w.truncated_bytes() == len - good_end);
    CHECK(w.quarantined() == std::vector<std::string>{quarantine});
    CHECK(read_small_file(quarantine) == full.substr(good_end, len - good_end));
    auto recs = read_from(dir.path());
    REQUIRE(recs.size() == 5);
    CHECK(recs[4].second == "k100");
    ::unlink(quarantine.c_str());
  }
  // Two torn tails cut at the same place: the second quarantine never replaces the first.
  for (int k = 0; k < 3; ++k) {
    write_file_atomic(seg(dir.path(), 0), full.substr(0, good_end + 10 + k));
    publish(dir.path(), Offset(4));
    PartitionWriter w(dir.path(), "p", 1 << 20);
    append(w, 100, 1);
    CHECK(w.quarantined() ==
          std::vector<std::string>{paths::quarantine_file(dir.path(), Offset(0), good_end, k)});
  }
  auto files = quarantine_files(dir.path());
  REQUIRE(files.size() == 3);
  CHECK(read_small_file(paths::quarantine_file(dir.path(), Offset(0), good_end, 0)) ==
        full.substr(good_end, 10));
  CHECK(read_small_file(paths::quarantine_file(dir.path(), Offset(0), good_end, 2)) ==
        full.substr(good_end, 12));
}

TEST_CASE("a writer refuses to append after a corrupt batch and names it") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "topic t partition 0", 1 << 20);
    append(w, 0, 2);
    append(w, 2, 2);
  }
  std::string bytes = read_small_file(seg(dir.path(), 0));
  bytes[60] = static_cast<char>(bytes[60] ^ 1);  // inside the first batch's records
  write_file_atomic(seg(dir.path(), 0), bytes);
  PartitionWriter w(dir.path(), "topic t partition 0", 1 << 20);
  try {
    append(w, 4, 1);
    FAIL("append should have thrown");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::corrupt);
    std::string msg = e.what();
    CHECK(msg.find("topic t partition 0") != std::string::npos);
    CHECK(msg.find("00000000000000000000.log") != std::string::npos);
    CHECK(msg.find("byte 0") != std::string::npos);
  }
  CHECK(read_small_file(seg(dir.path(), 0)) == bytes);  // nothing appended
}

TEST_CASE("segments roll at the configured size and readers cross them") {
  test::TempDir dir;
  PartitionWriter w(dir.path(), "p", 1024);
  for (int i = 0; i < 30; ++i) append(w, i * 10, 10);
  auto segs = list_segments(dir.path());
  CHECK(segs.size() > 3);
  CHECK(segs.front().value == 0);
  auto recs = read_from(dir.path());
  REQUIRE(recs.size() == 300);
  for (int i = 0; i < 300; ++i) CHECK(recs[i].first == i);
  // Seeking into a later segment returns exactly from there.
  auto tail = read_from(dir.path(), Offset(251));
  REQUIRE(tail.size() == 49);
  CHECK(tail.front().first == 251);
}

TEST_CASE("lost or damaged indexes do not change what a seek returns") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    for (int i = 0; i < 50; ++i) append(w, i * 100, 100);  // batches > 4 KiB: indexed
  }
  std::vector<IndexEntry> entries = SegmentIndex(dir.path(), Offset(0)).entries();
  CHECK(entries.size() > 10);
  auto expected = read_from(dir.path(), Offset(3210));
  REQUIRE(expected.size() == 5000 - 3210);
  // Lost: every seek still lands right, and the next writer rebuilds the index.
  ::unlink(seg(dir.path(), 0, paths::kIndexExt).c_str());
  ::unlink(seg(dir.path(), 0, paths::kTimeIndexExt).c_str());
  CHECK(read_from(dir.path(), Offset(3210)) == expected);
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    append(w, 9999, 1);
  }
  // The writer rebuilt the index by scanning: the same entries as before.
  std::vector<IndexEntry> rebuilt = SegmentIndex(dir.path(), Offset(0)).entries();
  REQUIRE(rebuilt.size() >= entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    CHECK(rebuilt[i].rel_offset == entries[i].rel_offset);
    CHECK(rebuilt[i].position == entries[i].position);
  }
  // Damaged: entries pointing at wrong positions are not trusted.
  std::string idx = read_small_file(seg(dir.path(), 0, paths::kIndexExt));
  for (size_t i = 4; i < idx.size(); i += 8) idx[i] = static_cast<char>(idx[i] + 3);
  write_file_atomic(seg(dir.path(), 0, paths::kIndexExt), idx);
  auto again = read_from(dir.path(), Offset(3210));
  REQUIRE(again.size() == expected.size() + 1);
  CHECK(std::equal(expected.begin(), expected.end(), again.begin()));
  PartitionScan s = scan_partition(dir.path(), true);
  CHECK_FALSE(s.index_problems.empty());
  repair_partition(dir.path());
  CHECK(scan_partition(dir.path(), true).index_problems.empty());
}

TEST_CASE("append timestamps never go backwards when the clock does") {
  test::TempDir dir;
  PartitionWriter w(dir.path(), "p", 1 << 20);
  Appended a = append(w, 0, 1);
  set_clock_skew_for_tests(-3'600'000);
  Appended b = append(w, 1, 1);
  set_clock_skew_for_tests(0);
  CHECK(b.timestamp >= a.timestamp);
  // A new writer (a new process) learns the last timestamp from the log.
  set_clock_skew_for_tests(-3'600'000);
  PartitionWriter w2(dir.path(), "p", 1 << 20);
  Appended c = append(w2, 2, 1);
  set_clock_skew_for_tests(0);
  CHECK(c.timestamp >= b.timestamp);
}

TEST_CASE("scan and repair cut a damaged partition back to its last good batch") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    append(w, 0, 3);
    append(w, 3, 3);
    append(w, 6, 3);
  }
  std::string bytes = read_small_file(seg(dir.path(), 0));
  BatchHeader first = decode_batch_header(bytes.data());
  size_t second = first.length;
  bytes[second + 70] = static_cast<char>(bytes[second + 70] ^ 4);
  write_file_atomic(seg(dir.path(), 0), bytes);
  PartitionScan s = scan_partition(dir.path(), false);
  CHECK(s.damaged);
  CHECK(s.damage_position == second);
  CHECK(s.bytes_after_damage == bytes.size() - second);
  CHECK(s.records == 3);
  repair_partition(dir.path());
  PartitionScan after = scan_partition(dir.path(), true);
  CHECK_FALSE(after.damaged);
  CHECK(after.records == 3);
  CHECK(after.end.value == 3);
  CHECK(read_from(dir.path()).size() == 3);
}

TEST_CASE("a torn or suspect batch below the durable end is refused, never cut") {
  // Acknowledged events: only a repair gives them up, and says where the end goes.
  for (bool torn : {true, false}) {
    CAPTURE(torn);
    test::TempDir dir;
    std::string path = seg(dir.path(), 0);
    std::string full = four_batches(dir.path());
    std::vector<uint64_t> starts = batch_starts(full);
    std::string bytes = full;
    if (torn)
      bytes.resize(starts[3] + 60);
    else
      bytes[starts[3] + 100] ^= 0x08;
    write_file_atomic(path, bytes);
    CHECK(read_durable_end(dir.path()) == Offset(40));
    std::string why = append_error(dir.path());
    CHECK(why.find("topic t partition 0 segment " + path) != std::string::npos);
    CHECK(read_small_file(path) == bytes);
    CHECK(quarantine_files(dir.path()).empty());
    CHECK(read_durable_end(dir.path()) == Offset(40));
    PartitionScan s = scan_partition(dir.path(), true);
    CHECK(s.damaged);
    CHECK_FALSE(s.torn_tail);
    CHECK(s.end.value == 30);
    CHECK(s.durable == Offset(40));
    CHECK(s.damage_position == starts[3]);
    CHECK(s.damage.find("offsets 30 to 39 were acknowledged") != std::string::npos);
    repair_partition(dir.path());
    CHECK(read_durable_end(dir.path()) == Offset(30));
    CHECK(read_small_file(path) == full.substr(0, starts[3]));
    PartitionWriter w(dir.path(), "p", 1 << 20);
    CHECK(append(w, 100, 1).base.value == 30);
  }
}

TEST_CASE("a log that ends before the durable end is refused; repair gives the rest up") {
  test::TempDir dir;
  std::string path = seg(dir.path(), 0);
  std::string full = four_batches(dir.path());
  std::vector<uint64_t> starts = batch_starts(full);
  write_file_atomic(path, full.substr(0, starts[2]));  // two whole batches gone
  CHECK(append_error(dir.path()).find("the valid data ends at offset 20, the durable end is 40") !=
        std::string::npos);
  CHECK(read_small_file(path) == full.substr(0, starts[2]));
  CHECK(read_durable_end(dir.path()) == Offset(40));
  PartitionScan s = scan_partition(dir.path(), true);
  CHECK(s.damaged);
  CHECK(s.bytes_after_damage == 0);
  CHECK(s.damage.find("offsets 20 to 39 were acknowledged") != std::string::npos);
  repair_partition(dir.path());
  CHECK(read_durable_end(dir.path()) == Offset(20));
  CHECK_FALSE(scan_partition(dir.path(), true).damaged);
  PartitionWriter w(dir.path(), "p", 1 << 20);
  CHECK(append(w, 100, 1).base.value == 20);
}

TEST_CASE("a torn last batch that the index already points at hides only itself") {
  test::TempDir dir;
  uint64_t last_start;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    for (int i = 0; i < 5; ++i) append(w, i * 400, 400);  // > 4 KiB each: all indexed
    last_start = SegmentIndex(dir.path(), Offset(0)).entries().back().position;
  }
  CHECK(SegmentIndex(dir.path(), Offset(0)).entries().size() == 5);
  std::string full = read_small_file(seg(dir.path(), 0));
  // The machine crashed: the index page survived, the last batch did not whole.
  write_file_atomic(seg(dir.path(), 0), full.substr(0, last_start + 70));
  publish(dir.path(), Offset(1600));  // and so did its mark from before the last append
  auto recs = read_from(dir.path());
  CHECK(recs.size() == 1600);
  PartitionReader r(dir.path(), "p");
  CHECK(r.log_end().value == 1600);
  PartitionWriter w(dir.path(), "p", 1 << 20);
  CHECK(append(w, 9000, 1).base.value == 1600);
  CHECK(w.truncated_bytes() == 70);
  CHECK(read_from(dir.path()).size() == 1601);
}

TEST_CASE("a damaged time index never makes a time seek skip records") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    for (int i = 0; i < 20; ++i) append(w, i * 400, 400);
  }
  std::string bad(4000, '\xff');
  write_file_atomic(seg(dir.path(), 0, paths::kTimeIndexExt), bad);
  PartitionReader r(dir.path(), "p");
  r.seek_time(Timestamp(0));
  BatchRef b;
  REQUIRE(r.next(b));
  CHECK(b.header.base_offset.value == 0);
}

TEST_CASE("a writer refuses to append after a bad middle batch even behind the last index entry") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    for (int i = 0; i < 8; ++i) append(w, i * 400, 400);  // > 4 KiB each: all indexed
  }
  REQUIRE(SegmentIndex(dir.path(), Offset(0)).entries().size() == 8);
  std::string path = seg(dir.path(), 0);
  std::string full = read_small_file(path);
  std::vector<uint64_t> starts = batch_starts(full);
  REQUIRE(starts.size() == 8);
  // Bits all through batch 3 (header and records); the index still trusts batch 7.
  for (uint64_t i = starts[3]; i < starts[4]; i += 61) {
    CAPTURE(i);
    std::string bytes = full;
    bytes[i] = static_cast<char>(bytes[i] ^ (1 << (i % 8)));
    write_file_atomic(path, bytes);
    std::string msg = append_error(dir.path());
    CHECK(msg.find(fmt::format("topic t partition 0 segment {}: bad batch at byte {}: ", path,
                               starts[3])) != std::string::npos);
    CHECK(read_small_file(path) == bytes);  // nothing appended, nothing cut
    CHECK(quarantine_files(dir.path()).empty());
  }
}

TEST_CASE("a writer refuses a complete last batch with a bad checksum and names the way out") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    for (int i = 0; i < 4; ++i) append(w, i * 400, 400);
  }
  std::string path = seg(dir.path(), 0);
  std::string full = read_small_file(path);
  std::vector<uint64_t> starts = batch_starts(full);
  REQUIRE(starts.size() == 4);
  for (uint64_t i = starts[3]; i < full.size(); i += 53) {
    CAPTURE(i);
    std::string bytes = full;
    bytes[i] = static_cast<char>(bytes[i] ^ (1 << (i % 8)));
    write_file_atomic(path, bytes);
    std::string msg = append_error(dir.path());
    CHECK(msg.find(fmt::format("topic t partition 0 segment {}: bad batch at byte {}: ", path,
                               starts[3])) != std::string::npos);
    CHECK(msg.find("pspf-topics repair") != std::string::npos);
    if (i >= starts[3] + kBatchHeaderSize)
      CHECK(msg.find("checksum mismatch in a complete last batch") != std::string::npos);
    CHECK(read_small_file(path) == bytes);
    CHECK(quarantine_files(dir.path()).empty());
  }
}

TEST_CASE("scan reports a suspect last batch; repair moves it to a quarantine file") {
  test::TempDir dir;
  std::string path = seg(dir.path(), 0);
  std::string full = four_batches(dir.path());
  std::vector<uint64_t> starts = batch_starts(full);
  std::string bytes = full;
  bytes[starts[3] + 100] ^= 0x08;
  write_file_atomic(path, bytes);
  publish(dir.path(), Offset(30));  // a write a power loss kept the size of, not acknowledged
  PartitionScan s = scan_partition(dir.path(), true);
  CHECK_FALSE(s.damaged);
  CHECK(s.torn_tail);
  CHECK(s.suspect_tail);
  CHECK(s.records == 30);
  CHECK(s.damage_position == starts[3]);
  CHECK(s.bytes_after_damage == full.size() - starts[3]);
  PartitionScan r = repair_partition(dir.path());
  std::string q = paths::quarantine_file(dir.path(), Offset(0), starts[3]);
  CHECK(r.quarantined == std::vector<std::string>{q});
  CHECK(read_small_file(q) == bytes.substr(starts[3]));
  CHECK(read_small_file(path) == full.substr(0, starts[3]));
  PartitionScan after = scan_partition(dir.path(), true);
  CHECK_FALSE(after.torn_tail);
  CHECK_FALSE(after.suspect_tail);
  PartitionWriter w(dir.path(), "p", 1 << 20);
  CHECK(append(w, 100, 1).base.value == 30);
  CHECK(w.quarantined().empty());
}

TEST_CASE("repair moves the damaged region and every later segment to quarantine files") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "p", 1024);
    for (int i = 0; i < 30; ++i) append(w, i * 10, 10);
  }
  auto segs = list_segments(dir.path());
  REQUIRE(segs.size() >= 4);
  std::vector<std::string> before;
  for (Offset b : segs) before.push_back(read_small_file(seg(dir.path(), b.value)));
  std::vector<uint64_t> starts = batch_starts(before[1]);
  REQUIRE(starts.size() >= 2);
  std::string damaged = before[1];
  damaged[starts[1] + 60] ^= 0x01;
  write_file_atomic(seg(dir.path(), segs[1].value), damaged);
  PartitionScan r = repair_partition(dir.path());
  CHECK(r.damaged);
  std::vector<std::string> want{paths::quarantine_file(dir.path(), segs[1], starts[1])};
  for (size_t k = 2; k < segs.size(); ++k)
    want.push_back(paths::quarantine_file(dir.path(), segs[k], 0));
  CHECK(r.quarantined == want);
  CHECK(quarantine_files(dir.path()) == want);
  CHECK(read_small_file(want[0]) == damaged.substr(starts[1]));
  for (size_t k = 2; k < segs.size(); ++k) CHECK(read_small_file(want[k - 1]) == before[k]);
  CHECK(list_segments(dir.path()) == std::vector<Offset>{segs[0], segs[1]});
  CHECK(read_small_file(seg(dir.path(), segs[1].value)) == before[1].substr(0, starts[1]));
  for (size_t k = 2; k < segs.size(); ++k) {
    CHECK_FALSE(path_exists(seg(dir.path(), segs[k].value, paths::kIndexExt)));
    CHECK_FALSE(path_exists(seg(dir.path(), segs[k].value, paths::kTimeIndexExt)));
  }
  CHECK_FALSE(scan_partition(dir.path(), true).damaged);
}

TEST_CASE("verify names a middle segment emptied or lost, unless a compaction removed it") {
  test::TempDir dir;
  {
    PartitionWriter w(dir.path(), "p", 1 << 20);
    append(w, 0, 3);
    w.roll_active();
    append(w, 3, 3);
    w.roll_active();
    append(w, 6, 3);
  }
  PartitionScan s = scan_partition(dir.path(), true);
  CHECK_FALSE(s.damaged);
  CHECK(s.problems.empty());
  std::string middle = read_small_file(seg(dir.path(), 3));
  uint64_t last_size = read_small_file(seg(dir.path(), 6)).size();
  // Emptied: only the last segment may be empty.
  write_file_atomic(seg(dir.path(), 3), "");
  s = scan_partition(dir.path(), true);
  CHECK(s.damaged);
  CHECK(s.damage == fmt::format("segment {}: empty, but it is not the last segment (its records "
                                "are lost)",
                                seg(dir.path(), 3)));
  CHECK(s.damaged_segment == seg(dir.path(), 3));
  CHECK(s.damage_position == 0);
  CHECK(s.bytes_after_damage == last_size);
  CHECK(s.records == 3);
  // Lost: segment 6 follows offset 3 with nothing between.
  for (auto ext : {paths::kLogExt, paths::kIndexExt, paths::kTimeIndexExt})
    ::unlink(seg(dir.path(), 3, ext).c_str());
  s = scan_partition(dir.path(), true);
  CHECK(s.damaged);
  CHECK(s.damage == fmt::format("segment {}: offsets 3..5 are missing before it: the segment "
                                "before ends at offset 3 and no compaction removed them (a "
                                "segment lost?)",
                                seg(dir.path(), 6)));
  CHECK(s.damaged_segment == seg(dir.path(), 6));
  CHECK(s.damage_position == 0);
  CHECK(s.bytes_after_damage == last_size);
  CHECK(s.records == 3);
  // A compaction that emptied segment 3 removes it after a delete record saying so.
  RemovalRecord r;
  r.kind = RemovalKind::del;
  r.token = 9;
  r.base = Offset(3);
  r.counts = {{"k3", 1}, {"k4", 1}, {"k5", 1}};
  append_removal_records(dir.path(), {r});
  s = scan_partition(dir.path(), true);
  CHECK_FALSE(s.damaged);
  CHECK(s.problems.empty());
  CHECK(s.records == 6);
}

TEST_CASE("verify decodes every record: a value or headers readers cannot print are damage") {
  struct Bad {
    std::string headers, value, why;
  };
  Buffer int_header;  // {"a": 1}: a header value must be a string
  msgpack_put_map_header(int_header, 1);
  msgpack_put_str(int_header, "a");
  int_header.push_back(1);
  for (const Bad& bad : {Bad{"", "\xc1", "a bad value"}, Bad{"", "\x01\x02", "a bad value"},
                         Bad{std::string(int_header.view()), test::value_of(0), "bad headers"}}) {
    CAPTURE(bad.why);
    test::TempDir dir;
    uint64_t at = 0;
    {
      PartitionWriter w(dir.path(), "p", 1 << 20);
      append(w, 0, 3);
      BatchBuilder b;
      std::string_view k = "k3";
      test::fill(b, 3, 1);
      b.add(&k, nullptr, bad.headers, bad.value);  // offset 4
      at = read_small_file(seg(dir.path(), 0)).size();
      w.append(b, SyncMode::none);
      append(w, 5, 2);
    }
    uint64_t size = read_small_file(seg(dir.path(), 0)).size();
    CHECK_FALSE(scan_partition(dir.path(), false).damaged);  // checksums are fine
    PartitionScan s = scan_partition(dir.path(), true);
    CHECK(s.damaged);
    CHECK(s.damage == fmt::format("segment {}: bad batch at byte {}: record at offset 4 has {}",
                                  seg(dir.path(), 0), at, bad.why));
    CHECK(s.damage_position == at);
    CHECK(s.bytes_after_damage == size - at);
    CHECK(s.records == 3);
    repair_partition(dir.path());
    PartitionScan after = scan_partition(dir.path(), true);
    CHECK_FALSE(after.damaged);
    CHECK(after.end.value == 3);
  }
}

TEST_CASE("checksum-valid batches whose offsets repeat, go back or overflow are corrupt") {
  auto sealed = [](int64_t base, int count) {
    BatchBuilder b;
    test::fill(b, 0, count);
    return std::string(b.seal(Offset(base), Timestamp(1)));
  };
  struct Case {
    std::string bytes;
    uint64_t at;
    std::string why;
  };
  std::string a = sealed(0, 3);
  std::vector<Case> cases = {
      {a + sealed(2, 2) + sealed(5, 1), a.size(), "base offset 2 is below 3"},
      {a + sealed(0, 3) + sealed(3, 1), a.size(), "base offset 0 is below 3"},
      {a + sealed(INT64_MAX - 1, 2) + sealed(5, 1), a.size(),
       "base offset 9223372036854775806 + last offset delta 1 overflows"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.why);
    test::TempDir dir;
    write_file_atomic(seg(dir.path(), 0), c.bytes);
    PartitionScan s = scan_partition(dir.path(), true);
    CHECK(s.damaged);
    CHECK(s.damage ==
          fmt::format("segment {}: bad batch at byte {}: {}", seg(dir.path(), 0), c.at, c.why));
    CHECK(s.records == 3);
    CHECK(s.end.value == 3);
  }
}

TEST_CASE("place_of finds where records at an offset start; cut_back cuts there cleanly") {
  test::TempDir dir;
  std::string bytes = four_batches(dir.path());  // batches of offsets 0, 10, 20, 30
  std::vector<uint64_t> starts = batch_starts(bytes);
  REQUIRE(starts.size() == 4);
  auto place = [&](int64_t end) { return place_of(dir.path(), Offset(end)); };
  // With the index and without it (the index only shortens the walk).
  for (bool indexed : {true, false}) {
    CAPTURE(indexed);
    if (!indexed) {
      remove_file(seg(dir.path(), 0, paths::kIndexExt));
      remove_file(seg(dir.path(), 0, paths::kTimeIndexExt));
    }
    CHECK(place(0).position == 0);
    CHECK(place(20).position == starts[2]);
    CHECK(place(30).position == starts[3]);
    CHECK(place(25).position == starts[3]);  // a straddling batch stays before the place
    CHECK(place(40).position == bytes.size());
    CHECK(place(1000).position == bytes.size());
    CHECK(place(20).segment == Offset(0));
  }

  // Several segments: an end at a segment's base is that segment's start.
  test::TempDir rolled;
  {
    PartitionWriter w(rolled.path(), "p", 1024);
    for (int i = 0; i < 30; ++i) append(w, i * 10, 10);
  }
  std::vector<Offset> segs = list_segments(rolled.path());
  REQUIRE(segs.size() > 3);
  LogPlace at_base = place_of(rolled.path(), segs[2]);
  CHECK(at_base.segment == segs[2]);
  CHECK(at_base.position == 0);
  LogPlace inside = place_of(rolled.path(), Offset(segs[1].value + 10));
  CHECK(inside.segment == segs[1]);
  CHECK(inside.position > 0);

  // The cut: later segments go with their indexes; what is left reads and verifies
  // clean, and a writer continues from the cut. (The records cut are a dead writer's:
  // the durable end is the place's offset.)
  publish(rolled.path(), Offset(segs[1].value + 10));
  cut_back(rolled.path(), inside);
  CHECK(list_segments(rolled.path()) == std::vector<Offset>{segs[0], segs[1]});
  CHECK_FALSE(path_exists(seg(rolled.path(), segs[2].value, paths::kIndexExt)));
  auto recs = read_from(rolled.path());
  REQUIRE(recs.size() == static_cast<size_t>(segs[1].value + 10));
  CHECK(recs.back().first == segs[1].value + 9);
  PartitionScan s = scan_partition(rolled.path(), true);
  CHECK_FALSE(s.damaged);
  CHECK(s.index_problems.empty());
  CHECK(s.end == Offset(segs[1].value + 10));
  PartitionWriter w(rolled.path(), "p", 1024);
  CHECK(append(w, 0, 1).base == Offset(segs[1].value + 10));
}
