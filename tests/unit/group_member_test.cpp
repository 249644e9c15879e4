// Membership: fair shares, exclusive ownership, take-over when a member goes away.
// flock locks belong to open file descriptions, so several members in one process
// exclude each other exactly as separate processes would.
#include <doctest/doctest.h>

#include <memory>
#include <set>

#include "pspf/group_member.h"
#include "pspf/local_consumer.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "test_util.h"

using namespace pspf;

namespace {
TopicConfig topic8() {
  TopicConfig t;
  t.name.assign(1, 't');  // (not = "t": a GCC 12 -Wrestrict false positive)
  t.partitions = 8;
  return t;
}
auto always = [](PartitionId) { return true; };
}  // namespace

TEST_CASE("a lone member owns every partition") {
  test::TempDir dir;
  GroupMember m(dir.path(), "g", topic8());
  auto change = m.rebalance(always);
  CHECK(change.gained.size() == 8);
  CHECK(m.owned().size() == 8);
  CHECK(m.live_members() == 1);
  CHECK(count_live_members(dir.path(), "g") == 1);
  CHECK(partition_owners(dir.path(), "g", topic8()).size() == 8);
}

TEST_CASE("three members share eight partitions, each owned exactly once") {
  test::TempDir dir;
  GroupMember a(dir.path(), "g", topic8());
  a.rebalance(always);
  GroupMember b(dir.path(), "g", topic8());
  GroupMember c(dir.path(), "g", topic8());
  for (int round = 0; round < 3; ++round)
    for (GroupMember* m : {&a, &b, &c}) m->rebalance(always);
  std::multiset<int32_t> owned;
  for (GroupMember* m : {&a, &b, &c}) {
    CHECK(m->owned().size() <= 3);  // ceil(8/3)
    for (PartitionId p : m->owned()) owned.insert(p.value);
  }
  CHECK(owned.size() == 8);
  CHECK(std::set<int32_t>(owned.begin(), owned.end()).size() == 8);
  CHECK(a.live_members() == 3);
}

TEST_CASE("a member that goes away leaves its partitions to the others") {
  test::TempDir dir;
  auto a = std::make_unique<GroupMember>(dir.path(), "g", topic8());
  GroupMember b(dir.path(), "g", topic8());
  a->rebalance(always);
  b.rebalance(always);
  a->rebalance(always);
  b.rebalance(always);
  CHECK(a->owned().size() == 4);
  CHECK(b.owned().size() == 4);
  a.reset();  // its locks are dropped, as the kernel does when a process dies
  b.rebalance(always);
  CHECK(b.owned().size() == 8);
  CHECK(count_live_members(dir.path(), "g") == 1);
}

TEST_CASE("a busy partition is not given up until it may be") {
  test::TempDir dir;
  GroupMember a(dir.path(), "g", topic8());
  a.rebalance(always);
  GroupMember b(dir.path(), "g", topic8());
  auto change = a.rebalance([](PartitionId) { return false; });
  CHECK(change.released.empty());
  CHECK(a.owned().size() == 8);
  CHECK(b.rebalance(always).gained.empty());
  change = a.rebalance(always);
  CHECK(change.released.size() == 4);
  CHECK(b.rebalance(always).gained.size() == 4);
}

TEST_CASE("a member joining while another counts the members joins, and is counted") {
  // Three members started at one instant: one counts the members (probing each file's
  // lock) while another has created its file but not locked it yet. The joiner must
  // neither be taken for a dead member nor fail to join.
  test::TempDir dir;
  GroupMember a(dir.path(), "g", topic8());
  int seen_while_joining = -1;
  GroupMember::set_join_hook_for_tests([&] { seen_while_joining = a.live_members(); });
  std::unique_ptr<GroupMember> b;
  CHECK_NOTHROW(b = std::make_unique<GroupMember>(dir.path(), "g", topic8()));
  GroupMember::set_join_hook_for_tests(nullptr);
  CHECK(seen_while_joining == 1);  // a joiner not yet locked is not counted yet
  REQUIRE(b);
  CHECK(a.live_members() == 2);
  CHECK(b->live_members() == 2);
  CHECK(count_live_members(dir.path(), "g") == 2);
}

TEST_CASE("-e: a member does not leave a partition to a member whose end is lower than its own") {
  // Members started at different moments of a growing log have different -e ends. A
  // member whose end is higher must not count on a live owner with a lower end to
  // finish a partition for it: that owner stops (and leaves) short of it.
  test::TempDir dir;
  LocalLog log(dir.path());
  TopicConfig cfg;
  cfg.name.assign(1, 't');
  cfg.partitions = 3;
  TopicConfig t = create_topic(log.dir(), cfg);
  auto append = [&](int n) {
    LocalProducer producer(log, t, SyncMode::none, 200);
    std::string v = test::value_of(1);
    for (int i = 0; i < n; ++i)
      for (int32_t p = 0; p < 3; ++p) producer.add(PartitionId(p), nullptr, nullptr, {}, v);
    producer.flush();
  };
  auto none_busy = [](PartitionId) { return false; };
  // Drains every owned partition and commits; returns the records handed out.
  auto drain = [](Consumer& c) {
    size_t n = 0;
    for (PartitionId p : c.owned()) {
      n += c.poll(p, 1000, [](const RecordView&) {});
      CHECK(c.commit(p, c.position(p)));
    }
    return n;
  };
  append(10);
  auto low = std::make_unique<LocalConsumer>(log, "g", t, Position{}, true);  // ends at 10
  low->rebalance(none_busy);
  CHECK(low->owned().size() == 3);
  append(5);
  LocalConsumer high(log, "g", t, Position{}, true);  // ends at 15
  high.rebalance(none_busy);
  CHECK(high.owned().empty());  // every partition is low's
  CHECK_FALSE(high.finished());
  CHECK(drain(*low) == 30);
  CHECK(low->finished());
  low.reset();  // low leaves at its end
  CHECK_FALSE(high.finished());
  high.rebalance(none_busy);
  CHECK(high.owned().size() == 3);
  CHECK(drain(high) == 15);  // the 5 records past low's end, on each partition
  CHECK(high.finished());
}
