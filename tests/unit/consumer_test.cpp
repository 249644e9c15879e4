// consumer.cpp: a member hands out records from the group's committed offset (or
// --from), commits and announces with the epoch it claimed, rewinds, loses the right
// to commit when its partition is taken over, and reports a committed offset past the
// log end before restarting where --from says.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pspf/consumer.h"
#include "pspf/group_offsets.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "pspf/paths.h"
#include "test_util.h"

using namespace pspf;

namespace {

std::string fast_base() { return std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp"; }

// A data directory with topic "t" of `partitions` partitions, each holding `n`
// durable records.
struct Fixture {
  test::TempDir dir{fast_base()};
  LocalLog log{dir.path()};
  TopicConfig topic;
  explicit Fixture(int n, int partitions = 1) {
    TopicConfig cfg;
    cfg.name = "t";
    cfg.partitions = partitions;
    topic = create_topic(dir.path(), cfg);
    LocalProducer p(log, topic, SyncMode::batch);
    std::string v = test::value_of(0);
    for (int q = 0; q < partitions; ++q)
      for (int i = 0; i < n; ++i) p.add(PartitionId(q), nullptr, nullptr, {}, v);
    p.flush();
  }
};

// The one place a consumer is made (the construction changes with Log), with its
// warnings collected in `warnings`.
std::unique_ptr<Consumer> make_consumer(const Fixture& f, Position from,
                                        std::vector<std::string>* warnings = nullptr) {
  auto c = f.log.consume("g", f.topic, from, /*stop_at_start_end=*/true);
  if (warnings) c->on_warning([warnings](const std::string& w) { warnings->push_back(w); });
  c->rebalance([](PartitionId) { return false; });
  return c;
}

const PartitionId p0(0);

std::vector<int64_t> poll(Consumer& c, size_t max) {
  std::vector<int64_t> out;
  c.poll(p0, max, [&](const RecordView& r) { out.push_back(r.offset.value); });
  return out;
}

}  // namespace

TEST_CASE("a member commits, announces and rewinds; the next member starts at the commit") {
  Fixture f(10);
  {
    auto c = make_consumer(f, {Position::Kind::beginning, 0});
    REQUIRE(c->owned() == std::vector<PartitionId>{p0});
    CHECK(c->committed(p0).value == 0);  // a new group's start is committed at once
    CHECK(poll(*c, 3) == std::vector<int64_t>{0, 1, 2});
    CHECK(c->position(p0).value == 3);
    CHECK_FALSE(c->announced(p0));
    REQUIRE(c->announce(p0, Offset(0), Offset(2)));
    CHECK(c->announced(p0) == Offset(2));
    REQUIRE(c->commit(p0, Offset(3)));
    CHECK(c->committed(p0).value == 3);
    CHECK(poll(*c, 2) == std::vector<int64_t>{3, 4});
    c->rewind(p0, Offset(3));  // the batch 3..4 failed: hand it out again
    CHECK(poll(*c, 2) == std::vector<int64_t>{3, 4});
    REQUIRE(c->announce(p0, Offset(3), Offset(5)));  // announced, never committed
  }
  auto next = make_consumer(f, {Position::Kind::end, 0});
  CHECK(next->committed(p0).value == 3);
  CHECK(next->announced(p0) == Offset(5));  // the batch must be [3, 5] again
  CHECK(poll(*next, 100) == std::vector<int64_t>{3, 4, 5, 6, 7, 8, 9});
  CHECK(next->at_end(p0));
}

TEST_CASE("a member whose partition was taken over cannot commit or announce") {
  Fixture f(10);
  auto c = make_consumer(f, {Position::Kind::beginning, 0});
  CHECK(poll(*c, 4) == std::vector<int64_t>{0, 1, 2, 3});
  // Another member claims the partition (a new epoch) while c still reads it.
  GroupOffsets(f.dir.path(), "g").claim("t", p0, "other");
  CHECK_FALSE(c->commit(p0, Offset(4)));
  CHECK(GroupOffsets(f.dir.path(), "g").load().at({"t", 0}).offset.value == 0);
  auto d = make_consumer(f, {Position::Kind::beginning, 0});
  GroupOffsets(f.dir.path(), "g").claim("t", p0, "another");
  CHECK_FALSE(d->announce(p0, Offset(0), Offset(3)));
  CHECK(GroupOffsets(f.dir.path(), "g").load().at({"t", 0}).pending_last == -1);
}

TEST_CASE("commit_all commits the partitions together and releases one taken over") {
  Fixture f(10, 3);
  auto c = make_consumer(f, {Position::Kind::beginning, 0});
  const PartitionId p1(1), p2(2);
  REQUIRE(c->owned() == std::vector<PartitionId>{p0, p1, p2});
  GroupOffsets(f.dir.path(), "g").claim("t", p2, "other");
  std::string file = paths::group_offsets(paths::group_dir(f.dir.path(), "g"));
  auto refused = c->commit_all({{p0, Offset(4)}, {p1, Offset(2)}, {p2, Offset(1)}});
  CHECK(refused == std::vector<PartitionId>{p2});
  CHECK(c->owned() == std::vector<PartitionId>{p0, p1});  // p2 released
  CHECK(c->committed(p0).value == 4);
  CHECK(c->committed(p1).value == 2);
  auto state = GroupOffsets(f.dir.path(), "g").load();
  CHECK(state.at({"t", 0}).offset.value == 4);
  CHECK(state.at({"t", 1}).offset.value == 2);
  CHECK(state.at({"t", 2}).offset.value == 0);  // the other member's, unchanged
  // Offsets already committed are not written again.
  uint64_t size = std::filesystem::file_size(file);
  CHECK(c->commit_all({{p0, Offset(4)}, {p1, Offset(2)}}).empty());
  CHECK(std::filesystem::file_size(file) == size);
}

TEST_CASE("a committed offset past the log end is reported, then --from decides") {
  Fixture f(10);
  GroupOffsets(f.dir.path(), "g").set({{{"t", 0}, Offset(25)}}, "admin");
  std::vector<std::string> warnings;
  auto c = make_consumer(f, {Position::Kind::end, 0}, &warnings);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] ==
        "warning: group g topic t partition 0: committed offset 25 is past the log end 10 "
        "(records the group consumed are gone from the log); restarting at offset 10 as "
        "--from says");
  CHECK(c->position(p0).value == 10);
  CHECK(c->committed(p0).value == 10);  // the restart is committed
  CHECK(poll(*c, 100).empty());
  c.reset();
  // From the beginning instead: the same report, and every record again.
  GroupOffsets(f.dir.path(), "g").set({{{"t", 0}, Offset(25)}}, "admin");
  warnings.clear();
  c = make_consumer(f, {Position::Kind::beginning, 0}, &warnings);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("restarting at offset 0 as --from says") != std::string::npos);
  CHECK(poll(*c, 100).size() == 10);
}
