// topic_reader.cpp: records come merged across partitions by append time (ties to
// the lower partition), within [from, until), of one key when asked, over compaction
// gaps. The segments are written here byte for byte, so every timestamp is exact.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pspf/local_log.h"
#include "pspf/murmur2.h"
#include "pspf/paths.h"
#include "pspf/topic_reader.h"
#include "test_util.h"

using namespace pspf;

namespace {

// One record read: partition, offset, timestamp, key.
struct Seen {
  int32_t partition;
  int64_t offset;
  int64_t ts;
  std::string key;
  bool operator==(const Seen&) const = default;
};

// A data directory with topic "t" of `partitions` partitions.
struct Fixture {
  test::TempDir dir;
  LocalLog log{dir.path()};
  TopicConfig topic;
  explicit Fixture(int32_t partitions) {
    TopicConfig cfg;
    cfg.name = "t";
    cfg.partitions = partitions;
    topic = create_topic(dir.path(), cfg);
  }
  // Appends a batch of records with keys `keys` at offset `base`, all appended at `ts`,
  // to partition p's first segment (written directly: the test fixes every time).
  void batch(int32_t p, int64_t base, int64_t ts, const std::vector<std::string>& keys) {
    BatchBuilder b;
    std::string v = test::value_of(0);
    for (const auto& k : keys) {
      std::string_view kv = k;
      b.add(&kv, nullptr, {}, v);
    }
    std::string seg = paths::segment_file(paths::partition_dir(dir.path(), "t", PartitionId(p)),
                                          Offset(0), paths::kLogExt);
    std::string bytes = path_exists(seg) ? read_small_file(seg) : std::string();
    write_file_atomic(seg, bytes + std::string(b.seal(Offset(base), Timestamp(ts))));
  }
};

// The one place a reader is made (the construction changes with Log).
std::unique_ptr<TopicReader> make_reader(const Fixture& f, ReadOptions o) {
  return f.log.read(f.topic, std::move(o));
}

std::vector<Seen> read_all(const Fixture& f, ReadOptions o) {
  auto r = make_reader(f, std::move(o));
  std::vector<Seen> out;
  PartitionId p;
  RecordView rec;
  while (r->next(p, rec))
    out.push_back({p.value, rec.offset.value, rec.timestamp.value, std::string(rec.key)});
  CHECK(r->finished());
  return out;
}

// Two partitions: p0 holds a (t 1000), b (t 3000); p1 holds c (t 1000), d (t 2000).
Fixture& two_partitions(Fixture& f) {
  f.batch(0, 0, 1000, {"a"});
  f.batch(0, 1, 3000, {"b"});
  f.batch(1, 0, 1000, {"c"});
  f.batch(1, 1, 2000, {"d"});
  return f;
}

}  // namespace

TEST_CASE("partitions are merged by append time, a tie going to the lower partition") {
  Fixture f(2);
  two_partitions(f);
  CHECK(read_all(f, {}) ==
        std::vector<Seen>{
            {0, 0, 1000, "a"}, {1, 0, 1000, "c"}, {1, 1, 2000, "d"}, {0, 1, 3000, "b"}});
  ReadOptions unmerged;
  unmerged.merge = false;
  auto seen = read_all(f, unmerged);
  REQUIRE(seen.size() == 4);
  // Each partition's own order holds in any case.
  std::vector<std::string> p0, p1;
  for (const auto& s : seen) (s.partition == 0 ? p0 : p1).push_back(s.key);
  CHECK(p0 == std::vector<std::string>{"a", "b"});
  CHECK(p1 == std::vector<std::string>{"c", "d"});
}

TEST_CASE("--from and --until bound each partition: offsets, last N, times (until exclusive)") {
  Fixture f(1);
  f.batch(0, 0, 1000, {"a", "b", "c"});
  f.batch(0, 3, 2000, {"d", "e"});
  f.batch(0, 5, 3000, {"f"});
  auto keys = [&](Position from, std::optional<Position> until) {
    ReadOptions o;
    o.from = from;
    o.until = until;
    std::string out;
    for (const auto& s : read_all(f, o)) out += s.key;
    return out;
  };
  using K = Position::Kind;
  CHECK(keys({K::beginning, 0}, std::nullopt) == "abcdef");
  CHECK(keys({K::offset, 1}, Position{K::offset, 4}) == "bcd");
  CHECK(keys({K::offset, 4}, Position{K::offset, 4}).empty());
  CHECK(keys({K::last_n, 2}, std::nullopt) == "ef");
  CHECK(keys({K::last_n, 100}, Position{K::last_n, 4}) == "ab");
  CHECK(keys({K::time, 2000}, std::nullopt) == "def");
  CHECK(keys({K::time, 1500}, Position{K::time, 3000}) == "de");
  CHECK(keys({K::time, 3001}, std::nullopt).empty());
  CHECK(keys({K::end, 0}, std::nullopt).empty());
  CHECK(keys({K::beginning, 0}, Position{K::beginning, 0}).empty());
}

TEST_CASE("a key filter reads only its partition, and only its records") {
  Fixture f(4);
  int32_t home = partition_for_key("k1", 4).value;
  int32_t other = (home + 1) % 4;
  f.batch(home, 0, 1000, {"k1", "k2", "k1"});
  f.batch(other, 0, 500, {"k1"});  // not where k1 lives: never read
  ReadOptions o;
  o.key = "k1";
  CHECK(read_all(f, o) == std::vector<Seen>{{home, 0, 1000, "k1"}, {home, 2, 1000, "k1"}});
}

TEST_CASE("compaction gaps are skipped, and bounds inside a gap hold") {
  Fixture f(1);
  f.batch(0, 0, 1000, {"a", "b"});
  f.batch(0, 5, 2000, {"f", "g"});  // offsets 2..4 compacted away
  auto offsets = [&](int64_t from, std::optional<int64_t> until) {
    ReadOptions o;
    o.from = {Position::Kind::offset, from};
    if (until) o.until = Position{Position::Kind::offset, *until};
    std::vector<int64_t> out;
    for (const auto& s : read_all(f, o)) out.push_back(s.offset);
    return out;
  };
  CHECK(offsets(0, std::nullopt) == std::vector<int64_t>{0, 1, 5, 6});
  CHECK(offsets(3, std::nullopt) == std::vector<int64_t>{5, 6});
  CHECK(offsets(0, 4) == std::vector<int64_t>{0, 1});
  CHECK(offsets(3, 4).empty());
  CHECK(offsets(1, 6) == std::vector<int64_t>{1, 5});
}
