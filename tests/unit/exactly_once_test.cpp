// Exactly-once appends: deduplication by id (exact under hash collisions, rebuilt
// when the index is lost or damaged, bounded by the window), expected versions per
// key, producer marks for resumable imports.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "pspf/file.h"
#include "pspf/hash_index.h"
#include "pspf/partition.h"
#include "test_util.h"

using namespace pspf;

namespace {

struct Ev {
  std::string key, id;
};

AppendResult put(PartitionWriter& w, const std::vector<Ev>& evs,
                 std::optional<ExpectVersion> expect = std::nullopt) {
  BatchBuilder b;
  for (size_t i = 0; i < evs.size(); ++i) {
    std::string_view k = evs[i].key, id = evs[i].id;
    std::string v = test::value_of(static_cast<int>(i));
    b.add(k.empty() ? nullptr : &k, id.empty() ? nullptr : &id, {}, v);
  }
  return w.append_checked(b, SyncMode::none, false, expect);
}

// The ids of every record in the partition, in offset order.
std::vector<std::string> ids_in(const std::string& dir) {
  PartitionReader r(dir, "test");
  std::vector<std::string> out;
  BatchRef b;
  while (r.next(b)) {
    RecordIterator it(b.data, b.header);
    RecordView rec;
    while (it.next(rec)) out.emplace_back(rec.has_id ? rec.id : "-");
  }
  return out;
}

// Resets the hash mask at the end of a test that forces collisions.
struct MaskGuard {
  explicit MaskGuard(uint64_t mask) { MappedTable::set_hash_mask_for_tests(mask); }
  ~MaskGuard() { MappedTable::set_hash_mask_for_tests(~0ull); }
};

}  // namespace

TEST_CASE("an id already in the partition is left out, within a batch and across appends") {
  test::TempDir d;
  PartitionWriter w(d.path(), "test", 1 << 20);
  AppendResult r = put(w, {{"k", "a"}, {"k", "b"}, {"k", "a"}});
  CHECK(r.appended.count == 2);
  REQUIRE(r.duplicate_of.size() == 3);
  CHECK(r.duplicate_of[2].value == 0);
  CHECK(r.duplicate_of[0].value == -1);
  r = put(w, {{"k", "b"}, {"k", "c"}, {"", ""}});
  CHECK(r.appended.count == 2);
  CHECK(r.duplicate_of[0].value == 1);
  r = put(w, {{"k", "a"}});
  CHECK(r.appended.count == 0);
  CHECK(ids_in(d.path()) == std::vector<std::string>{"a", "b", "c", "-"});
}

TEST_CASE("two different ids whose hashes collide are both kept, and each is still found") {
  MaskGuard all_collide(0);
  test::TempDir d;
  PartitionWriter w(d.path(), "test", 1 << 20);
  CHECK(put(w, {{"k", "first"}, {"k", "second"}}).appended.count == 2);
  CHECK(put(w, {{"k", "third"}}).appended.count == 1);
  AppendResult r = put(w, {{"k", "second"}, {"k", "first"}, {"k", "third"}, {"k", "fourth"}});
  CHECK(r.appended.count == 1);
  CHECK(r.duplicate_of[0].value == 1);
  CHECK(r.duplicate_of[1].value == 0);
  CHECK(r.duplicate_of[2].value == 2);
  CHECK(ids_in(d.path()) == std::vector<std::string>{"first", "second", "third", "fourth"});
}

TEST_CASE("a deleted or damaged id index is rebuilt from the log with the same answers") {
  test::TempDir d;
  std::vector<Ev> evs;
  for (int i = 0; i < 3000; ++i) evs.push_back({"k", fmt::format("id-{}", i)});
  {
    PartitionWriter w(d.path(), "test", 1 << 20);
    CHECK(put(w, evs).appended.count == 3000);
  }
  std::string index = d.path() + "/ids.hix";
  SUBCASE("deleted") { ::unlink(index.c_str()); }
  SUBCASE("overwritten with garbage") {
    Fd fd = open_file(index, O_RDWR);
    std::string junk(file_size(fd.get(), index) - 64, '\x5a');
    pwrite_all(fd.get(), junk.data(), junk.size(), 64, index);
  }
  SUBCASE("header damaged") {
    Fd fd = open_file(index, O_RDWR);
    pwrite_all(fd.get(), "xx", 2, 20, index);
  }
  SUBCASE("truncated") {
    Fd fd = open_file(index, O_RDWR);
    truncate_file(fd.get(), 1000, index);
  }
  PartitionWriter w(d.path(), "test", 1 << 20);
  AppendResult r = put(w, {{"k", "id-0"}, {"k", "id-2999"}, {"k", "new"}});
  CHECK(r.appended.count == 1);
  REQUIRE(r.duplicate_of.size() == 3);
  CHECK(r.duplicate_of[0].value == 0);
  CHECK(r.duplicate_of[1].value == 2999);
}

TEST_CASE("an id older than the dedup window may be appended again") {
  test::TempDir d;
  SUBCASE("window by time") {
    PartitionWriter w(d.path(), "test", 1 << 20, DedupWindow{60'000, 0});
    CHECK(put(w, {{"k", "a"}}).appended.count == 1);
    set_clock_skew_for_tests(61'000);
    CHECK(put(w, {{"k", "a"}}).appended.count == 1);
    CHECK(put(w, {{"k", "a"}}).appended.count == 0);
    set_clock_skew_for_tests(0);
  }
  SUBCASE("window by events") {
    PartitionWriter w(d.path(), "test", 1 << 20, DedupWindow{0, 3});
    CHECK(put(w, {{"k", "a"}, {"k", "b"}}).appended.count == 2);
    CHECK(put(w, {{"k", "a"}}).appended.count == 0);  // 1 event back
    CHECK(put(w, {{"k", "c"}, {"k", "d"}}).appended.count == 2);
    CHECK(put(w, {{"k", "a"}}).appended.count == 1);  // 4 events back: outside
  }
}

TEST_CASE("the id index grows and keeps every id of the window") {
  test::TempDir d;
  PartitionWriter w(d.path(), "test", 1 << 20);
  for (int round = 0; round < 5; ++round) {
    std::vector<Ev> evs;
    for (int i = 0; i < 1000; ++i) evs.push_back({"k", fmt::format("r{}-{}", round, i)});
    CHECK(put(w, evs).appended.count == 1000);
  }
  PartitionWriter other(d.path(), "test", 1 << 20);  // another writer sees the grown file
  std::vector<Ev> again;
  for (int round = 0; round < 5; ++round) again.push_back({"k", fmt::format("r{}-999", round)});
  CHECK(put(other, again).appended.count == 0);
  CHECK(put(w, {{"k", "r0-0"}, {"k", "fresh"}}).appended.count == 1);
}

// Appends 40 rounds of `batch` new ids ("r<round>-<i>"), calling before(round) ahead
// of each, and checks after each that the partition's ids.hix holds at most `most` bytes.
template <typename Before>
void append_rounds(PartitionWriter& w, const std::string& dir, uint64_t batch, uint64_t most,
                   Before before) {
  const std::string index = dir + "/ids.hix";
  for (int round = 0; round < 40; ++round) {
    before(round);
    std::vector<Ev> evs;
    for (uint64_t i = 0; i < batch; ++i) evs.push_back({"k", fmt::format("r{}-{}", round, i)});
    REQUIRE(put(w, evs).appended.count == batch);
    uint64_t bytes = file_size(open_file(index, O_RDONLY).get(), index);
    CHECK_MESSAGE(bytes <= most, "round ", round, ": ", bytes, " bytes");
  }
}

TEST_CASE("the id index of a window by events stays sized for the window, however long the log") {
  test::TempDir d;
  constexpr uint64_t kWindow = 1000, kBatch = 500;
  // The most a table may need: the window and one batch of ids, with room for as many
  // again before it fills (a table fills at half its slots), in 16-byte slots.
  constexpr uint64_t kMostBytes = 64 + 16 * 2 * 2 * (kWindow + kBatch);
  PartitionWriter w(d.path(), "test", 1 << 20, DedupWindow{0, kWindow});
  // Ids that left the window are dropped when the table fills (the table used to
  // double each time, to 512 KiB by round 39).
  append_rounds(w, d.path(), kBatch, kMostBytes, [](int) {});
  // The window still holds: the last 1000 ids are duplicates, older ones are not.
  CHECK(put(w, {{"k", "r39-0"}, {"k", "r38-0"}}).appended.count == 0);
  CHECK(put(w, {{"k", "r37-499"}}).appended.count == 1);
}

TEST_CASE("the id index of a window by time stays sized for the ids appended within it") {
  test::TempDir d;
  constexpr uint64_t kBatch = 500;
  // Each round is a minute after the last, so only the round before is in the window:
  // two batches of ids, with room for as many again, in 16-byte slots.
  constexpr uint64_t kMostBytes = 64 + 16 * 2 * 2 * (2 * kBatch);
  PartitionWriter w(d.path(), "test", 1 << 20, DedupWindow{90'000, 0});
  // The table used to double each time it filled: 512 KiB by round 39.
  append_rounds(w, d.path(), kBatch, kMostBytes,
                [](int round) { set_clock_skew_for_tests(int64_t(round) * 60'000); });
  CHECK(put(w, {{"k", "r39-0"}, {"k", "r38-499"}}).appended.count == 0);
  CHECK(put(w, {{"k", "r37-0"}}).appended.count == 1);  // 2 minutes back: outside
  set_clock_skew_for_tests(0);
}

TEST_CASE("expected versions: any, no_stream, exists, exact; a mismatch writes nothing") {
  test::TempDir d;
  PartitionWriter w(d.path(), "test", 1 << 20);
  auto ev = [](std::string_view t) {
    if (t == "any") return ExpectVersion::any();
    if (t == "exists") return ExpectVersion::exists();
    if (t == "no_stream") return ExpectVersion::no_stream();
    return ExpectVersion::exact(std::stoll(std::string(t)));
  };
  CHECK(w.key_version("acct") == -1);
  CHECK(put(w, {{"acct", ""}}, ev("exists")).conflict);
  AppendResult r = put(w, {{"acct", ""}, {"acct", ""}}, ev("no_stream"));
  CHECK_FALSE(r.conflict);
  CHECK(r.version_before == -1);
  CHECK(w.key_version("acct") == 1);
  r = put(w, {{"acct", ""}}, ev("0"));
  CHECK(r.conflict);
  CHECK(r.version_before == 1);
  CHECK(r.appended.count == 0);
  CHECK(put(w, {{"other", ""}}, ev("any")).appended.count == 1);
  CHECK(put(w, {{"acct", ""}}, ev("1")).appended.count == 1);
  CHECK(w.key_version("acct") == 2);
  CHECK(w.key_version("other") == 0);
  ::unlink((d.path() + "/keys.hix").c_str());
  PartitionWriter fresh(d.path(), "test", 1 << 20);
  CHECK(fresh.key_version("acct") == 2);
}

TEST_CASE("key versions stay exact when key hashes collide") {
  MaskGuard all_collide(0);
  test::TempDir d;
  PartitionWriter w(d.path(), "test", 1 << 20);
  put(w, {{"a", ""}, {"b", ""}, {"a", ""}});
  CHECK(w.key_version("a") == 1);
  CHECK(w.key_version("b") == 0);
  CHECK(w.key_version("c") == -1);
}

TEST_CASE("a producer mark records the highest sequence appended per producer id") {
  test::TempDir d;
  PartitionWriter w(d.path(), "test", 1 << 20);
  CHECK(w.producer_seq("import") == 0);
  BatchBuilder b;
  test::fill(b, 0, 3);
  b.set_producer_mark("import", 7);
  w.append(b, SyncMode::none);
  b.clear();
  test::fill(b, 3, 1);
  b.set_producer_mark("other", 2);
  w.append(b, SyncMode::none);
  CHECK(w.producer_seq("import") == 7);
  PartitionWriter later(d.path(), "test", 1 << 20);  // from the cache file, then the log
  CHECK(later.producer_seq("import") == 7);
  CHECK(later.producer_seq("other") == 2);
  ::unlink((d.path() + "/producers.json").c_str());
  PartitionWriter rebuilt(d.path(), "test", 1 << 20);
  CHECK(rebuilt.producer_seq("import") == 7);
}
