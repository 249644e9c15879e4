// The Log interface as the tools use it, run through `Log&` only, so that the same
// checks can run on any implementation (today the local data directory): topics,
// a producer, a reader (merged and by key), a group member that commits, and the
// group administration pspf-offsets does.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "pspf/consumer.h"
#include "pspf/error.h"
#include "pspf/log.h"
#include "pspf/msgpack.h"
#include "pspf/murmur2.h"
#include "pspf/producer.h"
#include "pspf/topic_reader.h"
#include "test_util.h"

using namespace pspf;

namespace {

// Appends `n` records keyed "k<i % keys>" with values "v<i>", synced.
void produce(Log& log, const TopicConfig& t, int n, int keys) {
  std::unique_ptr<Producer> p = log.producer(t, SyncMode::batch);
  for (int i = 0; i < n; ++i) {
    std::string key = fmt::format("k{}", i % keys), v = test::value_of(i);
    std::string_view kv = key;
    p->add(p->route(&kv, nullptr), &kv, nullptr, {}, v);
  }
  REQUIRE(p->flush());
  CHECK(p->appended() == static_cast<uint64_t>(n));
}

// "p:offset:key" of every record a reader hands out.
std::vector<std::string> read_all(TopicReader& r) {
  std::vector<std::string> out;
  PartitionId p;
  RecordView rec;
  while (r.next(p, rec)) out.push_back(fmt::format("{}:{}:{}", p.value, rec.offset.value, rec.key));
  CHECK(r.finished());
  return out;
}

void contract(Log& log) {
  // Topics.
  bool created = false;
  TopicConfig t = log.open_or_create("orders", 3, created);
  CHECK(created);
  CHECK(log.open_or_create("orders", 5, created).partitions == 3);
  CHECK_FALSE(created);
  CHECK(log.list_topics() == std::vector<std::string>{"orders"});
  CHECK_THROWS_AS(log.topic("nope"), Error);
  CHECK_FALSE(log.find_topic("nope").has_value());

  // Records: keys land where murmur2 says, offsets count per partition.
  produce(log, t, 30, 5);
  std::unique_ptr<TopicReader> all = log.read(t, ReadOptions{});
  std::vector<std::string> seen = read_all(*all);
  REQUIRE(seen.size() == 30);
  std::vector<int64_t> next(3, 0);
  for (const auto& s : seen) {
    int32_t p = std::stoi(s.substr(0, s.find(':')));
    std::string key = s.substr(s.rfind(':') + 1);
    CHECK(partition_for_key(key, 3).value == p);
    CHECK(s == fmt::format("{}:{}:{}", p, next[static_cast<size_t>(p)]++, key));
  }
  ReadOptions by_key;
  by_key.key = "k2";
  std::vector<std::string> k2 = read_all(*log.read(t, by_key));
  CHECK(k2.size() == 6);
  for (const auto& s : k2) CHECK(s.substr(s.rfind(':') + 1) == "k2");
  CHECK(log.key_version(t, partition_for_key("k2", 3), "k2") == 5);
  CHECK(log.key_version(t, partition_for_key("zz", 3), "zz") == -1);
  OffsetBounds b = log.offset_bounds(t, PartitionId(0));
  CHECK(b.start.value == 0);
  CHECK(b.end.value == next[0]);

  // A group member takes every partition, reads it all and commits.
  CHECK_FALSE(log.group_exists("g"));
  {
    std::unique_ptr<Consumer> c = log.consume("g", t, Position{}, true);
    c->rebalance([](PartitionId) { return false; });
    CHECK(c->owned().size() == 3);
    CHECK(log.live_members("g") == 1);
    CHECK(log.partition_owners("g", t).size() == 3);
    size_t n = 0;
    for (PartitionId p : c->owned()) {
      n += c->poll(p, 1000, [](const RecordView&) {});
      CHECK(c->at_end(p));
      CHECK(c->commit(p, c->position(p)));
    }
    CHECK(n == 30);
    CHECK(c->finished());
  }
  CHECK(log.live_members("g") == 0);
  CHECK(log.group_exists("g"));
  CHECK(log.list_groups() == std::vector<std::string>{"g"});
  auto committed = log.committed_offsets("g");
  REQUIRE(committed.size() == 3);
  for (int32_t p = 0; p < 3; ++p)
    CHECK(committed.at({"orders", p}).offset.value == next[static_cast<size_t>(p)]);

  // Administration: set an offset back; the next member starts there.
  log.set_offsets("g", {{{"orders", 0}, Offset(1)}}, "test");
  CHECK(log.committed_offsets("g").at({"orders", 0}).offset.value == 1);
  {
    std::unique_ptr<Consumer> c = log.consume("g", t, Position{}, true);
    c->rebalance([](PartitionId) { return false; });
    CHECK(c->position(PartitionId(0)).value == 1);
    CHECK(c->poll(PartitionId(0), 1000, [](const RecordView&) {}) ==
          static_cast<size_t>(next[0] - 1));
  }
  log.delete_group("g");
  CHECK(log.committed_offsets("g").empty());
  CHECK_THROWS_AS(log.committed_offsets("bad/name"), Error);

  log.delete_topic("orders");
  CHECK(log.list_topics().empty());
}

}  // namespace

TEST_CASE("the local log keeps the Log contract") {
  test::TempDir d;
  std::unique_ptr<Log> log = open_local_log(d.path());
  contract(*log);
}
