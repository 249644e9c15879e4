// The give-up path of pspf-consume's worker (tools/common/consume_worker.h): a batch
// whose command fails on every attempt, with no dead-letter topic, stops the member
// with exit status 1, commits nothing for it, and is handed out again, whole, to the
// next member of the group.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "log_util.h"
#include "pspf-consume/consume_worker.h"
#include "pspf/file.h"
#include "pspf/group_offsets.h"
#include "pspf/local_consumer.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "test_util.h"

using namespace pspf;

namespace {

TopicConfig make_topic(const LocalLog& log, int n) {
  return test::filled_topic(const_cast<LocalLog&>(log), "t", n);
}

// The offsets of what the group's next member hands out from partition 0.
std::vector<int64_t> handed_out(const LocalLog& log, const TopicConfig& t) {
  LocalConsumer c(log, "g", t, Position{}, true);
  c.rebalance([](PartitionId) { return false; });
  std::vector<int64_t> out;
  c.poll(PartitionId(0), 1000, [&](const RecordView& r) { out.push_back(r.offset.value); });
  return out;
}

}  // namespace

TEST_CASE(
    "a batch that fails on every attempt without a dead letter: exit 1, nothing committed, handed "
    "out again") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 5);

  std::string tries = d.path() + "/tries.txt";
  tool::ConsumeOptions o;
  o.dir = d.path();
  o.group = std::string("g");
  o.topic = std::string("t");
  o.exit_at_end = true;
  o.max_attempts = 2;
  o.batch = 3;  // the first batch is offsets 0..2
  o.exec = fmt::format("echo \"$PSPF_FIRST_OFFSET $PSPF_LAST_OFFSET $PSPF_ATTEMPT\" >>'{}'; exit 3",
                       tries);
  int rc = 0;
  {
    LocalConsumer c(log, "g", t, Position{}, true);
    rc = tool::run_consumer(o, log, c, nullptr);
  }
  CHECK(rc == 1);
  // Both attempts ran on the same first batch, and nothing after it was tried.
  CHECK(read_small_file(tries, 1 << 16) == "0 2 1\n0 2 2\n");
  // Nothing was committed for the batch: partition 0 is still at its starting point
  // (offset 0, committed when the new group's member claimed it), not at 3.
  auto state = GroupOffsets(d.path(), "g").load();
  REQUIRE(state.size() == 1);
  CHECK(state.begin()->first == TopicPartition{"t", 0});
  CHECK(state.begin()->second.offset.value == 0);
  // The next member gets the same records, from offset 0.
  CHECK(handed_out(log, t) == std::vector<int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("a batch that succeeds on its second attempt is committed once") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 3);

  std::string tries = d.path() + "/tries.txt";
  tool::ConsumeOptions o;
  o.dir = d.path();
  o.group = std::string("g");
  o.topic = std::string("t");
  o.exit_at_end = true;
  o.max_attempts = 2;
  o.exec = fmt::format("echo \"$PSPF_ATTEMPT\" >>'{}'; [ \"$PSPF_ATTEMPT\" = 2 ]", tries);
  int rc = 0;
  {
    LocalConsumer c(log, "g", t, Position{}, true);
    rc = tool::run_consumer(o, log, c, nullptr);
  }
  CHECK(rc == 0);
  CHECK(read_small_file(tries, 1 << 16) == "1\n2\n");
  CHECK(handed_out(log, t).empty());
}
