// Committed offsets: durability format, fencing, torn records, compaction.
#include <doctest/doctest.h>
#include <fcntl.h>

#include <string>

#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/group_offsets.h"
#include "pspf/paths.h"
#include "test_util.h"

using namespace pspf;

namespace {
std::string offsets_file(const test::TempDir& d, const std::string& g) {
  return paths::group_offsets(paths::group_dir(d.path(), g));
}

// The synced length group g publishes in its lock file (nullopt: none).
std::optional<int64_t> synced_length(const test::TempDir& d, const std::string& g) {
  std::string lock = paths::group_lock(paths::group_dir(d.path(), g));
  return read_mark(open_file(lock, O_RDONLY).get(), lock);
}
void set_synced_length(const test::TempDir& d, const std::string& g, int64_t n) {
  std::string lock = paths::group_lock(paths::group_dir(d.path(), g));
  write_mark(open_file(lock, O_RDWR).get(), n, lock);
}

// The commit file of group g cut at every length from `before` up to `after` (a
// crash inside the records appended since, whose synced length is then still
// `before`'s): `check` gets what each one says. Then the file is `after` again.
template <class Check>
void each_cut(const test::TempDir& d, const std::string& before, const std::string& after,
              Check check) {
  for (size_t len = before.size(); len < after.size(); ++len) {
    CAPTURE(len);
    write_file_atomic(offsets_file(d, "g"), after.substr(0, len));
    set_synced_length(d, "g", static_cast<int64_t>(before.size()));
    check(GroupOffsets(d.path(), "g").load());
  }
  write_file_atomic(offsets_file(d, "g"), after);
  set_synced_length(d, "g", static_cast<int64_t>(after.size()));
}
}  // namespace

TEST_CASE("a claim then commits read back as the latest offset per partition") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  CHECK_FALSE(g.exists());
  Committed c = g.claim("t", PartitionId(0), "m1");
  CHECK(c.offset.value == -1);
  CHECK(c.epoch == 1);
  CHECK(g.commit("t", PartitionId(0), Offset(10), c.epoch, "m1"));
  CHECK(g.commit("t", PartitionId(0), Offset(25), c.epoch, "m1"));
  auto state = GroupOffsets(dir.path(), "g").load();
  REQUIRE(state.count({"t", 0}) == 1);
  CHECK(state.at({"t", 0}).offset.value == 25);
  CHECK(state.at({"t", 0}).member == "m1");
  // A second claim starts from the committed offset with a higher epoch.
  Committed again = g.claim("t", PartitionId(0), "m2");
  CHECK(again.offset.value == 25);
  CHECK(again.epoch == 2);
}

TEST_CASE("a member that lost its partition cannot commit (fencing)") {
  test::TempDir dir;
  GroupOffsets a(dir.path(), "g"), b(dir.path(), "g");
  Committed ca = a.claim("t", PartitionId(3), "a");
  CHECK(a.commit("t", PartitionId(3), Offset(5), ca.epoch, "a"));
  Committed cb = b.claim("t", PartitionId(3), "b");  // b takes over
  CHECK(cb.offset.value == 5);
  CHECK_FALSE(a.commit("t", PartitionId(3), Offset(99), ca.epoch, "a"));
  CHECK(b.commit("t", PartitionId(3), Offset(7), cb.epoch, "b"));
  CHECK(a.load().at({"t", 3}).offset.value == 7);
  // An administrative reset fences the current owner too.
  a.set({{{"t", 3}, Offset(1)}}, "admin");
  CHECK_FALSE(b.commit("t", PartitionId(3), Offset(8), cb.epoch, "b"));
  CHECK(a.load().at({"t", 3}).offset.value == 1);
}

TEST_CASE("a commit file cut at every length reads back as an earlier or the last commit") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  Committed c = g.claim("t", PartitionId(0), "m");
  for (int i = 1; i <= 5; ++i) CHECK(g.commit("t", PartitionId(0), Offset(i * 10), c.epoch, "m"));
  std::string full = read_small_file(offsets_file(dir, "g"));
  CHECK(synced_length(dir, "g") == static_cast<int64_t>(full.size()));
  size_t record = full.size() / 6;  // the claim and five commits, all of one size
  int64_t last_seen = -2;
  for (size_t len = 0; len <= full.size(); ++len) {
    CAPTURE(len);
    write_file_atomic(offsets_file(dir, "g"), full.substr(0, len));
    // A crash in the record being written: the ones before it were synced.
    set_synced_length(dir, "g", static_cast<int64_t>(len / record * record));
    auto state = GroupOffsets(dir.path(), "g").load();
    int64_t got = state.count({"t", 0}) ? state.at({"t", 0}).offset.value : -2;
    CHECK((got == -2 || got == -1 || got % 10 == 0));
    CHECK(got >= last_seen);  // longer prefixes never read back older commits
    last_seen = got;
  }
  CHECK(last_seen == 50);
  // The next writer cuts a torn record and appends after the last good one.
  write_file_atomic(offsets_file(dir, "g"), full.substr(0, full.size() - 3));
  set_synced_length(dir, "g", static_cast<int64_t>(full.size() - record));
  GroupOffsets w(dir.path(), "g");
  CHECK(w.commit("t", PartitionId(0), Offset(60), c.epoch, "m"));
  CHECK(GroupOffsets(dir.path(), "g").load().at({"t", 0}).offset.value == 60);
}

TEST_CASE("a damaged record followed by good ones is corruption") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  Committed c = g.claim("t", PartitionId(0), "m");
  CHECK(g.commit("t", PartitionId(0), Offset(1), c.epoch, "m"));
  CHECK(g.commit("t", PartitionId(0), Offset(2), c.epoch, "m"));
  std::string bytes = read_small_file(offsets_file(dir, "g"));
  bytes[20] = static_cast<char>(bytes[20] ^ 1);
  write_file_atomic(offsets_file(dir, "g"), bytes);
  CHECK_THROWS_AS(GroupOffsets(dir.path(), "g").load(), Error);
}

TEST_CASE("a synced record that is damaged or gone is damage, not a commit never made") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  Committed c = g.claim("t", PartitionId(0), "m");
  REQUIRE(g.commit("t", PartitionId(0), Offset(10), c.epoch, "m"));
  size_t ten = read_small_file(offsets_file(dir, "g")).size();
  REQUIRE(g.commit("t", PartitionId(0), Offset(20), c.epoch, "m"));
  std::string good = read_small_file(offsets_file(dir, "g"));
  CHECK(synced_length(dir, "g") == static_cast<int64_t>(good.size()));
  auto offset_read = [&] { return GroupOffsets(dir.path(), "g").load().at({"t", 0}).offset.value; };

  // A flipped byte in the last record, synced: a reader and a writer both fail, naming
  // it, and the writer leaves the file as it was (no commit 10 read back, then cut).
  std::string flipped = good;
  flipped[flipped.size() - 1] = static_cast<char>(flipped.back() ^ 1);
  write_file_atomic(offsets_file(dir, "g"), flipped);
  CHECK_THROWS_WITH_AS(offset_read(), doctest::Contains("synced commit records are damaged"),
                       Error);
  CHECK_THROWS_WITH_AS(
      GroupOffsets(dir.path(), "g").commit("t", PartitionId(0), Offset(30), c.epoch, "m"),
      doctest::Contains("pspf-offsets delete -g g --force"), Error);
  CHECK(read_small_file(offsets_file(dir, "g")) == flipped);

  // The last record gone whole: the same.
  write_file_atomic(offsets_file(dir, "g"), good.substr(0, ten));
  CHECK_THROWS_WITH_AS(offset_read(), doctest::Contains("the file ends there"), Error);

  // The same flip past the synced length (a committer that died before its sync
  // published it) is a commit never made: read as the one before, then cut.
  write_file_atomic(offsets_file(dir, "g"), flipped);
  set_synced_length(dir, "g", static_cast<int64_t>(ten));
  CHECK(offset_read() == 10);
  REQUIRE(GroupOffsets(dir.path(), "g").commit("t", PartitionId(0), Offset(30), c.epoch, "m"));
  CHECK(offset_read() == 30);
  CHECK(read_small_file(offsets_file(dir, "g") + "." + std::to_string(ten) + ".quarantine") ==
        flipped.substr(ten));

  // A group of an older pspf publishes no length: as before, a bad last record is
  // taken for a commit never made.
  write_file_atomic(offsets_file(dir, "g"), flipped);
  write_file_atomic(paths::group_lock(paths::group_dir(dir.path(), "g")), "");
  CHECK(offset_read() == 10);
}

TEST_CASE("many commits compact the file without changing what it says") {
  test::TempDir dir;
  GroupOffsets::set_compact_threshold_for_tests(16 << 10);
  GroupOffsets g(dir.path(), "g");
  Committed c0 = g.claim("t", PartitionId(0), "m");
  Committed c1 = g.claim("t", PartitionId(1), "m");
  for (int i = 0; i < 3000; ++i) {
    g.commit("t", PartitionId(0), Offset(i), c0.epoch, "m");
    if (i % 3 == 0) g.commit("t", PartitionId(1), Offset(i), c1.epoch, "m");
  }
  Fd fd = open_file(offsets_file(dir, "g"), O_RDONLY);
  CHECK(file_size(fd.get(), "") < (32u << 10));  // 4000 records would be ~200 KiB
  // The synced length follows the file through compaction.
  CHECK(synced_length(dir, "g") == static_cast<int64_t>(file_size(fd.get(), "")));
  auto state = GroupOffsets(dir.path(), "g").load();
  CHECK(state.at({"t", 0}).offset.value == 2999);
  CHECK(state.at({"t", 1}).offset.value == 2997);
  // Epochs survive compaction: the owner can still commit, others are still fenced.
  CHECK(g.commit("t", PartitionId(0), Offset(3000), c0.epoch, "m"));
  GroupOffsets::set_compact_threshold_for_tests(1 << 20);
  CHECK_FALSE(g.commit("t", PartitionId(0), Offset(1), c0.epoch - 1, "old"));
}

TEST_CASE("groups are listed and removed") {
  test::TempDir dir;
  GroupOffsets a(dir.path(), "alpha"), b(dir.path(), "beta");
  a.claim("t", PartitionId(0), "m");
  b.claim("t", PartitionId(0), "m");
  CHECK(GroupOffsets::list(dir.path()) == std::vector<std::string>{"alpha", "beta"});
  a.remove();
  CHECK(GroupOffsets::list(dir.path()) == std::vector<std::string>{"beta"});
  CHECK_THROWS_AS(GroupOffsets(dir.path(), "../x"), Error);
}

TEST_CASE("a reset of several partitions takes effect whole or not at all") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  g.set({{{"t", 0}, Offset(5)}, {{"t", 1}, Offset(6)}}, "admin");
  std::string before = read_small_file(offsets_file(dir, "g"));
  g.set({{{"t", 0}, Offset(50)}, {{"t", 1}, Offset(60)}, {{"t", 2}, Offset(70)}}, "admin");
  std::string after = read_small_file(offsets_file(dir, "g"));
  each_cut(dir, before, after, [](const auto& state) {
    CHECK(state.at({"t", 0}).offset.value == 5);
    CHECK(state.at({"t", 1}).offset.value == 6);
    CHECK(state.count({"t", 2}) == 0);
  });
  auto state = GroupOffsets(dir.path(), "g").load();
  CHECK(state.at({"t", 2}).offset.value == 70);
}

TEST_CASE("an announced batch survives a take-over and compaction, and a reset clears it") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  Committed c = g.claim("t", PartitionId(1), "m1");
  REQUIRE(g.commit("t", PartitionId(1), Offset(100), c.epoch, "m1"));
  CHECK(g.announce("t", PartitionId(1), Offset(149), c.epoch, "m1"));
  Committed taken = GroupOffsets(dir.path(), "g").claim("t", PartitionId(1), "m2");
  CHECK(taken.offset.value == 100);
  CHECK(taken.pending_last == 149);
  CHECK_FALSE(g.announce("t", PartitionId(1), Offset(120), c.epoch, "m1"));  // fenced
  GroupOffsets::set_compact_threshold_for_tests(1);
  GroupOffsets m2(dir.path(), "g");
  for (int i = 0; i < 8; ++i) m2.claim("t", PartitionId(2), "m2");  // grow, then compact
  GroupOffsets::set_compact_threshold_for_tests(1u << 20);
  auto state = GroupOffsets(dir.path(), "g").load();
  CHECK(state[{"t", 1}].offset.value == 100);
  CHECK(state[{"t", 1}].pending_last == 149);
  GroupOffsets(dir.path(), "g").set({{{"t", 1}, Offset(0)}}, "admin");
  CHECK(GroupOffsets(dir.path(), "g").load()[{"t", 1}].pending_last == -1);
}

TEST_CASE("an announce after a gap commits the gap in the same record, or nothing when fenced") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  Committed c = g.claim("t", PartitionId(0), "m1");
  REQUIRE(g.commit("t", PartitionId(0), Offset(10), c.epoch, "m1"));
  auto size = [&] { return file_size(open_file(offsets_file(dir, "g"), O_RDONLY).get(), ""); };
  uint64_t before = size();
  REQUIRE(g.announce("t", PartitionId(0), Offset(19), c.epoch, "m1", Offset(15)));
  auto state = GroupOffsets(dir.path(), "g").load();
  CHECK(state[{"t", 0}].offset.value == 15);
  CHECK(state[{"t", 0}].pending_last == 19);
  // One record (16 bytes of frame header) of two entries (36 bytes and "t", "m1").
  CHECK(size() - before == 16 + 2 * (36 + 1 + 2));
  Committed taken = GroupOffsets(dir.path(), "g").claim("t", PartitionId(0), "m2");
  CHECK_FALSE(g.announce("t", PartitionId(0), Offset(29), c.epoch, "m1", Offset(25)));  // fenced
  state = GroupOffsets(dir.path(), "g").load();
  CHECK(state[{"t", 0}].offset.value == 15);
  CHECK(state[{"t", 0}].pending_last == 19);
  CHECK(taken.offset.value == 15);
}

TEST_CASE(
    "a commit of several partitions is one record: whole or not at all, fenced ones left out") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  uint64_t e0 = g.claim("t", PartitionId(0), "m1").epoch;
  uint64_t e1 = g.claim("t", PartitionId(1), "m1").epoch;
  uint64_t e2 = g.claim("t", PartitionId(2), "m1").epoch;
  REQUIRE(g.commit("t", PartitionId(0), Offset(5), e0, "m1"));
  uint64_t taken = GroupOffsets(dir.path(), "g").claim("t", PartitionId(2), "m2").epoch;
  std::string before = read_small_file(offsets_file(dir, "g"));
  auto fenced = g.commit("t",
                         {{PartitionId(0), Offset(50), e0},
                          {PartitionId(1), Offset(60), e1},
                          {PartitionId(2), Offset(70), e2}},
                         "m1");
  CHECK(fenced == std::vector<PartitionId>{PartitionId(2)});  // m2 claimed it since
  std::string after = read_small_file(offsets_file(dir, "g"));
  // One frame more: a crash anywhere in it leaves the commits before it.
  each_cut(dir, before, after, [](const auto& state) {
    CHECK(state.at({"t", 0}).offset.value == 5);
    CHECK(state.at({"t", 1}).offset.value == -1);
  });
  auto state = GroupOffsets(dir.path(), "g").load();
  CHECK(state.at({"t", 0}).offset.value == 50);
  CHECK(state.at({"t", 1}).offset.value == 60);
  CHECK(state.at({"t", 2}).offset.value == -1);  // the fenced commit wrote nothing
  CHECK(state.at({"t", 2}).epoch == taken);
  CHECK(g.commit("t", {}, "m1").empty());
}

TEST_CASE("a claim of several partitions is one record: new epochs for all or for none") {
  test::TempDir dir;
  GroupOffsets g(dir.path(), "g");
  g.set({{{"t", 0}, Offset(5)}}, "admin");  // partition 0 at epoch 1, offset 5
  std::string before = read_small_file(offsets_file(dir, "g"));
  std::vector<Committed> claims = g.claim("t", {PartitionId(0), PartitionId(1)}, "m1");
  REQUIRE(claims.size() == 2);
  CHECK(claims[0].epoch == 2);
  CHECK(claims[0].offset.value == 5);
  CHECK(claims[1].epoch == 1);
  CHECK(claims[1].offset.value == -1);  // never committed
  std::string after = read_small_file(offsets_file(dir, "g"));
  each_cut(dir, before, after, [](const auto& state) {
    CHECK(state.at({"t", 0}).epoch == 1);
    CHECK(state.count({"t", 1}) == 0);
  });
  auto state = GroupOffsets(dir.path(), "g").load();
  CHECK(state.at({"t", 0}).epoch == 2);
  CHECK(state.at({"t", 1}).epoch == 1);
  CHECK(state.at({"t", 1}).member == "m1");
  // The older epoch of partition 0 can no longer commit; the claimed one can.
  CHECK_FALSE(g.commit("t", PartitionId(0), Offset(9), 1, "m0"));
  CHECK(g.commit("t", PartitionId(0), Offset(9), claims[0].epoch, "m1"));
  CHECK(g.claim("t", std::vector<PartitionId>{}, "m1").empty());
}
