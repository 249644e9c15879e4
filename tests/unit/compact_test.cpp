// Compaction: latest-per-key content and keyless records survive unchanged, offsets
// never change, ids in the dedup window and producer marks are kept, removed-keys
// counts add up, leftovers of a dead compaction are finished or rolled back, and
// retention removes exactly the expected segments.
#include <doctest/doctest.h>
#include <fcntl.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "damage.h"
#include "pspf/compact.h"
#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/latest.h"
#include "pspf/local_log.h"
#include "pspf/partition_scan.h"
#include "pspf/paths.h"
#include "pspf/removed_keys.h"
#include "test_util.h"

using namespace pspf;

namespace {

const std::string kNil("\xc0", 1);

struct Fixture {
  test::TempDir tmp;
  LocalLog log{tmp.path()};
  TopicConfig t;
  std::string dir;
  std::unique_ptr<PartitionWriter> w;
  std::map<std::string, uint64_t> appended;  // events per key

  explicit Fixture(uint64_t segment_bytes = 4096, CleanupPolicy policy = {true, false}) {
    TopicConfig c;
    c.name = "t";
    c.partitions = 1;
    c.segment_bytes = segment_bytes;
    c.cleanup = policy;
    c.delete_retention_ms = 3'600'000;
    t = log.create_topic(c);
    dir = paths::partition_dir(tmp.path(), "t", PartitionId(0));
    w = log.writer(t, PartitionId(0));
  }
  // Appends one batch of (key or "" for none, value, id or "") records.
  void add(const std::vector<std::tuple<std::string, std::string, std::string>>& recs,
           std::optional<ProducerMark> mark = std::nullopt) {
    BatchBuilder b;
    for (const auto& [k, v, id] : recs) {
      std::string_view kv = k, iv = id;
      b.add(k.empty() ? nullptr : &kv, id.empty() ? nullptr : &iv, {}, v);
      if (!k.empty()) appended[k]++;
    }
    if (mark) b.set_producer_mark(mark->producer, mark->last_seq);
    w->append(b, SyncMode::none);
  }
  TopicReport compact(int64_t age_ms = 0, bool roll = true) {
    CompactOptions o;
    o.roll = roll;
    o.now = Timestamp(now_ms().value + age_ms);
    return log.compact(t, o);
  }
  // Every record: offset -> (key or "-", value, has id).
  std::map<int64_t, std::tuple<std::string, std::string, bool>> records() {
    std::map<int64_t, std::tuple<std::string, std::string, bool>> out;
    auto r = log.reader(t, PartitionId(0));
    BatchRef b;
    while (r->next(b)) {
      RecordIterator it(b.data, b.header);
      RecordView rec;
      while (it.next(rec))
        out[rec.offset.value] = {rec.has_key ? std::string(rec.key) : "-", std::string(rec.value),
                                 rec.has_id};
    }
    return out;
  }
  // Checks that for every key, its events left in the log plus those removed-keys
  // counts are the events appended (else a key's version would be rebuilt wrong).
  void check_counts_add_up() {
    auto removed = load_removed_keys(dir);
    std::map<std::string, uint64_t> present;
    for (const auto& [off, rec] : records())
      if (std::get<0>(rec) != "-") present[std::get<0>(rec)]++;
    for (const auto& [k, n] : appended) {
      CAPTURE(k);
      CHECK(present[k] + removed[k] == n);
    }
    for (const auto& [k, n] : removed) {
      CAPTURE(k);
      CHECK(appended.count(k) == 1);
    }
  }
  // The latest (offset, value) per key, tombstones included, and the keyless records.
  std::pair<std::map<std::string, std::pair<int64_t, std::string>>, std::set<int64_t>> view() {
    std::map<std::string, std::pair<int64_t, std::string>> latest;
    std::set<int64_t> keyless;
    for (const auto& [off, rec] : records()) {
      if (std::get<0>(rec) == "-")
        keyless.insert(off);
      else
        latest[std::get<0>(rec)] = {off, std::get<1>(rec)};
    }
    return {latest, keyless};
  }
};

}  // namespace

TEST_CASE("latest per key and keyless records are the same before and after, random workloads") {
  for (unsigned seed = 1; seed <= 6; ++seed) {
    CAPTURE(seed);
    Fixture f(2048);
    std::mt19937 rng(seed);
    for (int b = 0; b < 120; ++b) {
      std::vector<std::tuple<std::string, std::string, std::string>> recs;
      int n = 1 + int(rng() % 5);
      for (int i = 0; i < n; ++i) {
        int k = int(rng() % 25);
        bool tomb = rng() % 6 == 0;
        recs.emplace_back(rng() % 10 == 0 ? "" : fmt::format("k{}", k),
                          tomb ? kNil : test::value_of(b * 10 + i), "");
      }
      f.add(recs);
    }
    auto before = f.view();
    auto all_before = f.records();
    TopicReport r = f.compact();
    CHECK(r.partitions.at(0).records_after < r.partitions.at(0).records_cleaned);
    auto after = f.view();
    CHECK(after == before);
    // Every record left is one of before, at the same offset.
    for (const auto& [off, rec] : f.records()) CHECK(all_before.at(off) == rec);
    // Only the latest of each key is left (tombstones are younger than the horizon).
    CHECK(f.records().size() == before.first.size() + before.second.size());
    // Present + removed = appended, for every key.
    f.check_counts_add_up();
    // A second compaction, past the tombstone horizon: deleted keys disappear, the
    // others stay, and the counts still add up.
    f.compact(2 * 3'600'000);
    auto later = f.view();
    for (const auto& [k, v] : before.first) {
      bool tomb = v.second == kNil;
      CHECK(later.first.count(k) == (tomb ? 0u : 1u));
      if (!tomb) CHECK(later.first.at(k) == v);
    }
    CHECK(later.second == before.second);
    f.check_counts_add_up();
  }
}

TEST_CASE("records with an id inside the dedup window are kept, older ones are not") {
  Fixture f;
  f.t.dedup_window = DedupWindow{0, 3};  // the last 3 offsets
  for (int i = 0; i < 6; ++i) f.add({{"k", test::value_of(i), fmt::format("id{}", i)}});
  f.compact();
  // Offsets 3, 4, 5 are in the window; 0..2 are superseded and outside it.
  std::vector<int64_t> offsets;
  for (const auto& [off, rec] : f.records()) offsets.push_back(off);
  CHECK(offsets == std::vector<int64_t>{3, 4, 5});
  f.t.dedup_window = DedupWindow{};  // 7 days: everything with an id stays
  f.add({{"k", test::value_of(9), ""}});
  f.compact();
  CHECK(f.records().size() == 4);
}

TEST_CASE("a producer mark survives: its batch keeps its last record") {
  Fixture f;
  f.t.dedup_window = DedupWindow{0, 1};
  f.add({{"a", test::value_of(1), ""}, {"b", test::value_of(2), ""}}, ProducerMark{"imp", 41});
  f.add({{"a", test::value_of(3), ""}, {"b", test::value_of(4), ""}, {"c", test::value_of(5), ""}},
        ProducerMark{"imp", 44});
  f.add({{"a", test::value_of(6), ""}, {"c", test::value_of(7), ""}});
  f.compact();
  auto recs = f.records();
  std::vector<int64_t> offsets;
  for (const auto& [off, rec] : recs) offsets.push_back(off);
  // Batch 1 loses a (0) but keeps b (1) for its mark; batch 2 keeps b (3), the latest b.
  CHECK(offsets == std::vector<int64_t>{1, 3, 5, 6});
  auto r = f.log.reader(f.t, PartitionId(0));
  BatchRef b;
  std::vector<uint64_t> marks;
  while (r->next(b))
    if (auto m = batch_producer_mark(b.data, b.header)) marks.push_back(m->last_seq);
  CHECK(marks == std::vector<uint64_t>{41, 44});
  // b (1), kept for the mark, is not counted as removed: a lost 0 and 2, c lost 4.
  f.check_counts_add_up();
  CHECK(load_removed_keys(f.dir) == std::unordered_map<std::string, uint64_t>{{"a", 2}, {"c", 1}});
}

TEST_CASE("a reader inside a segment being replaced finishes it from the old file") {
  Fixture f(1 << 20);
  for (int i = 0; i < 200; ++i) f.add({{fmt::format("k{}", i % 3), test::value_of(i), ""}});
  auto reader = f.log.reader(f.t, PartitionId(0));
  BatchRef b;
  REQUIRE(reader->next(b));  // offset 0 of the old segment
  f.compact();
  int n = 1;
  while (reader->next(b)) ++n;
  CHECK(n == 200);  // every batch of the old file, then the (empty) new active segment
  CHECK(f.records().size() == 3);
}

TEST_CASE("leftovers: uncommitted swap files are rolled back, committed ones finished") {
  Fixture f(1 << 20);
  for (int i = 0; i < 10; ++i) f.add({{fmt::format("k{}", i % 2), test::value_of(i), ""}});
  f.w->roll_active();
  f.add({{"k0", test::value_of(99), ""}});
  std::string seg = paths::segment_file(f.dir, Offset(0), paths::kLogExt);
  std::string content = read_small_file(seg);
  // An uncommitted swap file (a compaction killed while writing it) goes.
  std::string stale = paths::swap_file(f.dir, Offset(0), paths::kLogExt, 77);
  write_file_atomic(stale, "partial");
  Leftovers l = finish_leftovers(f.dir);
  CHECK(l.rolled_back == 1);
  CHECK_FALSE(path_exists(stale));
  // A committed one whose rename never happened: its counts do not count yet, and
  // the next finish applies it.
  std::string swap = paths::swap_file(f.dir, Offset(0), paths::kLogExt, 78);
  write_file_atomic(swap, "");  // (an empty replacement: everything removed)
  RemovalRecord r;
  r.kind = RemovalKind::swap;
  r.token = 78;
  r.base = Offset(0);
  r.counts = {{"k0", 5}, {"k1", 5}};
  append_removal_records(f.dir, {r});
  CHECK(load_removed_keys(f.dir).empty());
  CHECK(read_small_file(seg) == content);
  l = finish_leftovers(f.dir);
  CHECK(l.finished == 1);
  CHECK(load_removed_keys(f.dir) ==
        std::unordered_map<std::string, uint64_t>{{"k0", 5}, {"k1", 5}});
  CHECK(read_small_file(seg).empty());
}

TEST_CASE("removed-keys: a torn last frame is ignored, a bad frame before more data is corrupt") {
  test::TempDir tmp;
  RemovalRecord r;
  r.kind = RemovalKind::totals;
  r.counts = {{"a", 1}};
  append_removal_records(tmp.path(), {r, r});
  std::string path = paths::removed_keys(tmp.path());
  std::string whole = read_small_file(path);
  CHECK(load_removed_keys(tmp.path()).at("a") == 2);
  size_t frame = whole.size() / 2;
  for (size_t cut = frame; cut < whole.size(); ++cut) {
    write_file_atomic(path, whole.substr(0, cut));
    CHECK(load_removed_keys(tmp.path()).at("a") == 1);
  }
  std::string bad = whole;
  bad[20] ^= 1;  // inside the first frame's payload
  write_file_atomic(path, bad);
  CHECK_THROWS_AS(load_removed_keys(tmp.path()), Error);
  CHECK(load_removed_keys(tmp.path() + "/nothing-here").empty());
}

namespace {
// removed-keys' synced length in the partition lock file of `dir`.
std::optional<int64_t> removed_synced(const std::string& dir) {
  std::string lock = paths::partition_lock(dir);
  return read_mark(open_file(lock, O_RDONLY).get(), lock, kRemovedKeysMarkAt);
}
void publish_removed_synced(const std::string& dir, uint64_t n) {
  std::string lock = paths::partition_lock(dir);
  write_mark(open_file(lock, O_RDWR).get(), static_cast<int64_t>(n), lock, kRemovedKeysMarkAt);
}
RemovalRecord totals_of(const std::string& key, uint64_t n) {
  RemovalRecord r;
  r.kind = RemovalKind::totals;
  r.counts = {{key, n}};
  return r;
}
}  // namespace

TEST_CASE("removed-keys: short of its synced length it is damaged, past it a torn write") {
  test::TempDir tmp;
  std::string dir = tmp.path(), path = paths::removed_keys(dir);
  FileLock lock(paths::partition_lock(dir));  // creates the lock file, as every writer
  append_removal_records(dir, {totals_of("a", 1)});
  std::string first = read_small_file(path);
  CHECK(removed_synced(dir) == int64_t(first.size()));
  append_removal_records(dir, {totals_of("a", 1)});
  std::string whole = read_small_file(path);
  CHECK(removed_synced(dir) == int64_t(whole.size()));
  CHECK(load_removed_keys(dir).at("a") == 2);

  // Every byte of the synced last frame, flipped or cut off: refused by readers and by
  // the next writer, which changes nothing.
  for (size_t at = first.size(); at < whole.size(); ++at) {
    CAPTURE(at);
    std::string bad = whole;
    bad[at] ^= 0x40;
    for (const std::string& content : {bad, whole.substr(0, at)}) {
      write_file_atomic(path, content);
      CHECK_THROWS_AS(load_removed_keys(dir), Error);
      CHECK_THROWS_AS(append_removal_records(dir, {totals_of("b", 1)}), Error);
      CHECK(read_small_file(path) == content);
      CHECK(list_dir(dir).size() == 2);  // no quarantine file: nothing was cut
    }
  }

  // The same bytes past the published length are a write the crash cut short: ignored
  // by readers, cut off (to quarantine) by the next writer, which then appends.
  publish_removed_synced(dir, first.size());
  std::string bad = whole;
  bad[whole.size() - 1] ^= 0x40;
  write_file_atomic(path, bad);
  CHECK(load_removed_keys(dir).at("a") == 1);
  append_removal_records(dir, {totals_of("b", 1)});
  CHECK(load_removed_keys(dir) == std::unordered_map<std::string, uint64_t>{{"a", 1}, {"b", 1}});
  CHECK(removed_synced(dir) == int64_t(read_small_file(path).size()));
  CHECK(list_dir(dir).size() == 3);  // the cut frame, in quarantine

  // Removed by a person who gave the counts up (the error's hint): the next writer
  // starts a new file, whatever the old mark says.
  remove_file(path);
  append_removal_records(dir, {totals_of("c", 1)});
  CHECK(load_removed_keys(dir) == std::unordered_map<std::string, uint64_t>{{"c", 1}});
  CHECK(removed_synced(dir) == int64_t(read_small_file(path).size()));
}

TEST_CASE("removed-keys: rewritten as totals, the synced length follows the new file") {
  test::TempDir tmp;
  std::string dir = tmp.path(), path = paths::removed_keys(dir);
  FileLock lock(paths::partition_lock(dir));
  for (int i = 0; i < 5; ++i) append_removal_records(dir, {totals_of(fmt::format("k{}", i), 1)});
  std::string old = read_small_file(path);
  CHECK(removed_synced(dir) == int64_t(old.size()));
  write_removed_totals(dir, load_removed_keys(dir));
  uint64_t after = read_small_file(path).size();
  REQUIRE(after < old.size());
  CHECK(removed_synced(dir) == int64_t(after));
  CHECK(load_removed_keys(dir).size() == 5);
  // A crash after step 1 (the length lowered to the new file's, the old file still
  // there): the old file reads whole, and the next writer appends to it.
  write_file_atomic(path, old);
  CHECK(load_removed_keys(dir).size() == 5);
  append_removal_records(dir, {totals_of("k0", 1)});
  CHECK(load_removed_keys(dir).at("k0") == 2);
  // (the old file held five frames of one key each, as long as the one appended)
  CHECK(removed_synced(dir) == int64_t(old.size() + old.size() / 5));
}

TEST_CASE("retention by time and by bytes removes exactly the expected segments") {
  Fixture f(1 << 20, CleanupPolicy{false, true});
  // Six segments of 12 events (the last is the active one).
  for (int s = 0; s < 6; ++s) {
    if (s) f.w->roll_active();
    for (int i = 0; i < 12; ++i) f.add({{"", std::string(80, 'x'), ""}});
  }
  auto segs = list_segments(f.dir);
  REQUIRE(segs.size() == 6);
  std::vector<uint64_t> sizes;
  for (Offset s : segs) sizes.push_back(segment_tail(f.dir, s).bytes);
  // Bytes: a segment goes when the segments after it hold the retention bytes or
  // more: with three segments' worth, segments 0..2 go and 3 stays (4 and 5 hold less).
  f.t.retention_bytes = int64_t(sizes[3] + sizes[4] + sizes[5]);
  f.compact(0, false);
  auto left = list_segments(f.dir);
  CHECK(left == std::vector<Offset>(segs.begin() + 3, segs.end()));
  // Time: everything closed is older than 1 h in an hour and a bit.
  f.t.retention_bytes = -1;
  f.t.retention_ms = 3'600'000;
  f.compact(0, false);
  CHECK(list_segments(f.dir).size() == 3);
  f.compact(3'600'000 + 1000, false);
  CHECK(list_segments(f.dir) == std::vector<Offset>{segs[5]});
  CHECK(PartitionReader(f.dir, "p").log_end() == Offset(72));
}

TEST_CASE("a compacted copy keeps the source and carries the removed counts") {
  Fixture f;
  for (int i = 0; i < 20; ++i) f.add({{fmt::format("k{}", i % 4), test::value_of(i), ""}});
  auto before = f.records();
  test::TempDir out;
  CompactOptions o;
  o.into = out.path() + "/copy";
  compact_topic(f.log, f.t, o);
  CHECK(f.records() == before);
  LocalLog copy(*o.into);
  TopicConfig ct = copy.topic("t");
  std::string cdir = paths::partition_dir(*o.into, "t", PartitionId(0));
  CHECK(load_removed_keys(cdir).at("k0") == 4);
  CHECK(PartitionReader(cdir, "c").log_end() == Offset(20));
  int n = 0;
  for_each_latest(copy, ct, {}, [&](PartitionId, const RecordView&) { ++n; });
  CHECK(n == 4);
  CHECK_THROWS_AS(compact_topic(f.log, f.t, o), Error);  // the copy exists
}

namespace {
AppendResult put_expecting(PartitionWriter& w, const std::string& key, ExpectVersion expect) {
  BatchBuilder b;
  std::string_view k = key;
  std::string v = test::value_of(0);
  b.add(&k, nullptr, {}, v);
  return w.append_checked(b, SyncMode::none, false, expect);
}
}  // namespace

TEST_CASE("a key whose events and tombstone compaction removed keeps its version") {
  Fixture f;
  for (int i = 0; i < 4; ++i) f.add({{"gone", test::value_of(i), ""}});
  f.add({{"gone", kNil, ""}});  // version 4, deleted
  f.add({{"kept", test::value_of(9), ""}});
  CHECK(f.w->key_version("gone") == 4);  // the key index now holds it
  f.compact(2 * 3'600'000);              // past the tombstone's horizon
  REQUIRE(f.view().first.count("gone") == 0);
  CHECK(f.w->key_version("gone") == 4);
  AppendResult r = put_expecting(*f.w, "gone", ExpectVersion::no_stream());
  CHECK(r.conflict);
  CHECK(r.version_before == 4);
  CHECK(r.appended.count == 0);
  // A rebuilt index says the same.
  ::unlink((f.dir + "/keys.hix").c_str());
  auto fresh = f.log.writer(f.t, PartitionId(0));
  CHECK(fresh->key_version("gone") == 4);
  CHECK(fresh->key_version("kept") == 0);
  CHECK(fresh->key_version("never") == -1);
  r = put_expecting(*fresh, "gone", ExpectVersion::exact(4));
  CHECK_FALSE(r.conflict);
  CHECK(fresh->key_version("gone") == 5);
}

TEST_CASE("damage to removed-keys is reported, and key versions are never rebuilt low") {
  Fixture f;
  for (int i = 0; i < 4; ++i) f.add({{"gone", test::value_of(i), ""}});
  f.add({{"gone", kNil, ""}});
  f.add({{"kept", test::value_of(9), ""}});
  f.compact(2 * 3'600'000);
  PartitionScan s = scan_partition(f.dir, true);
  CHECK_FALSE(s.damaged);
  CHECK(s.problems.empty());
  std::string path = paths::removed_keys(f.dir);
  std::string whole = read_small_file(path);
  std::string lost = fmt::format(
      "{}: 5 records are missing from offsets 0..5 of the log, but it counts 0 removed there (a "
      "record lost or damaged: rebuilt key versions would go backwards)",
      path);
  std::string damaged = fmt::format(
      "{}: synced records are damaged or missing: the valid records end at byte 0 (bad frame at "
      "byte 0: checksum mismatch in a complete last frame), but they were synced up to byte {}: "
      "key versions rebuilt from it would go backwards (the file may be removed only if key "
      "versions need not be exact)",
      path, whole.size());
  // A flipped byte in the last frame, synced, is damage to acknowledged data; the file
  // gone looks like a partition never compacted, and the removals are no longer
  // counted. Either way, no key version is answered.
  std::string flipped = whole;
  flipped.back() = static_cast<char>(flipped.back() ^ 1);
  struct Case {
    const std::string* content;  // nullptr: the file removed
    std::string problem, refusal;
  };
  for (const Case& c : {Case{&flipped, damaged, "cannot work out key versions: " + damaged},
                        Case{nullptr, lost, "cannot rebuild key versions: " + lost}}) {
    if (c.content)
      write_file_atomic(path, *c.content);
    else
      ::unlink(path.c_str());
    s = scan_partition(f.dir, true);
    CHECK_FALSE(s.damaged);
    CHECK(s.problems == std::vector<std::string>{c.problem});
    ::unlink((f.dir + "/keys.hix").c_str());
    auto fresh = f.log.writer(f.t, PartitionId(0));
    CHECK_THROWS_WITH_AS(fresh->key_version("gone"),
                         fmt::format("topic t partition 0: {}", c.refusal).c_str(), Error);
    CHECK_THROWS_AS(put_expecting(*fresh, "gone", ExpectVersion::no_stream()), Error);
  }
  write_file_atomic(path, whole);
  CHECK(f.log.writer(f.t, PartitionId(0))->key_version("gone") == 4);
}

TEST_CASE("a damaged last batch of a closed segment stops compaction and retention, untouched") {
  // The reader calls a bad last batch of a file "suspect" (it may be a write in
  // progress), which only the live last segment can have. Compaction used to stop
  // reading a closed segment there without a word, write the copy without that batch
  // and exit 0: the damage was destroyed, the events gone, and replay clean again.
  for (bool retention : {false, true}) {
    CAPTURE(retention);
    Fixture f(4096, CleanupPolicy{!retention, retention});
    f.t.retention_ms = retention ? 1000 : -1;
    for (int b = 0; b < 3; ++b)
      f.add({{"k1", test::value_of(b), ""}, {"k2", test::value_of(b), ""}});
    f.w->roll_active();
    f.add({{"k3", test::value_of(9), ""}});
    auto segs = list_segments(f.dir);
    REQUIRE(segs.size() == 2);
    std::string path = paths::segment_file(f.dir, segs[0], paths::kLogExt);
    std::string bytes = test::read_bytes(path);
    bytes[bytes.size() - 2] ^= 1;  // a value of the last batch: its checksum fails
    test::write_bytes(path, bytes);
    std::string what;
    try {
      f.compact(retention ? 3'600'000 : 0, false);
    } catch (const Error& e) {
      what = e.what();
    }
    CHECK(what.find(fmt::format("segment {}: ", path)) != std::string::npos);
    CHECK(what.find("in a segment that is not the last") != std::string::npos);
    CHECK(test::read_bytes(path) == bytes);  // left for verify and repair to see
    CHECK(list_segments(f.dir) == segs);
  }
}
