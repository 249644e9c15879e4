// Producer: where records go (key, else id, else sticky) and how batches are cut
// (never past the format's limit, kMaxBatchBytes).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "pspf/error.h"
#include "pspf/log.h"
#include "pspf/murmur2.h"
#include "pspf/partition.h"
#include "pspf/producer.h"
#include "test_util.h"

using namespace pspf;

TEST_CASE("a keyless record with an id goes where its id would go as a key, in every producer") {
  test::TempDir d;
  Log log(d.path());
  for (int32_t n : {3, 7, 12}) {
    CAPTURE(n);
    bool created = false;
    TopicConfig t = log.open_or_create(fmt::format("t{}", n), n, created);
    Producer first(log, t, SyncMode::none), rerun(log, t, SyncMode::none);
    std::vector<int> seen(static_cast<size_t>(n));
    for (int i = 0; i < 60; ++i) {
      std::string id = fmt::format("import/{}", i);
      std::string_view idv = id;
      CAPTURE(id);
      PartitionId p = first.route(nullptr, &idv);
      CHECK(p.value == partition_for_key(id, n).value);
      CHECK(p.value == first.route(&idv, nullptr).value);
      CHECK(p.value == rerun.route(nullptr, &idv).value);
      ++seen[static_cast<size_t>(p.value)];
    }
    // The ids spread: no partition gets them all.
    for (int c : seen) CHECK(c < 60);
    // A key decides over an id.
    std::string_view key = "k", idv = "import/0";
    CHECK(first.route(&key, &idv).value == partition_for_key("k", n).value);
  }
}

namespace {

// Appends through a Producer to a one-partition topic.
struct Appends {
  test::TempDir d;
  Log log{d.path()};
  TopicConfig topic;
  Producer producer;

  static TopicConfig make(Log& log) {
    bool created = false;
    return log.open_or_create("big", 1, created);
  }
  Appends() : topic(make(log)), producer(log, topic, SyncMode::none) {}
  void add(size_t value_size) {
    std::string value(value_size, 'x');
    producer.add(PartitionId(0), nullptr, nullptr, {}, value);
  }
  // The batches in the partition as a reader accepts them: {length, record count}
  // each (a reader stops at a batch it calls damage).
  std::vector<std::pair<uint32_t, uint32_t>> stored() {
    auto reader = log.reader(topic, PartitionId(0));
    std::vector<std::pair<uint32_t, uint32_t>> out;
    BatchRef b;
    while (reader->next(b)) out.emplace_back(b.header.length, b.header.record_count);
    return out;
  }
};
using Batches = std::vector<std::pair<uint32_t, uint32_t>>;

// A keyless, id-less record without headers takes 11 bytes besides a value of
// 65536 bytes or more (envelope 1, delta 1, time 1, key 1, id 1, headers 1, bin
// header 5); one with a 1000-byte value takes 1009 (its bin header is 3 bytes).
constexpr size_t kSmall = 1000;
constexpr size_t kSmallRecord = 1009;
constexpr size_t kBigOverhead = 11;
// The value that makes [small, big] exactly kMaxBatchBytes long.
constexpr size_t kExactFit = kMaxBatchBytes - kBatchHeaderSize - kSmallRecord - kBigOverhead;

}  // namespace

TEST_CASE("the record sizes the producer counts with are the bytes add() writes") {
  BatchBuilder b;
  std::string small(kSmall, 'x'), big(70000, 'y');
  b.add(nullptr, nullptr, {}, small);
  CHECK(b.size() == kBatchHeaderSize + kSmallRecord);
  b.add(nullptr, nullptr, {}, big);
  CHECK(b.size() == kBatchHeaderSize + kSmallRecord + kBigOverhead + big.size());
  CHECK(BatchBuilder::mark_bytes("import", 7) == 1 + 7 + 1);
}

TEST_CASE("a record that would push a batch past the limit starts the next batch") {
  Appends a;
  a.add(kSmall);
  a.add(kExactFit + 1);
  a.producer.flush();
  CHECK(a.stored() == Batches{{kBatchHeaderSize + kSmallRecord, 1},
                              {kBatchHeaderSize + kBigOverhead + kExactFit + 1, 1}});
  CHECK(a.producer.appended() == 2);
}

TEST_CASE("a record that makes a batch exactly the limit long stays in it") {
  Appends a;
  a.add(kSmall);
  a.add(kExactFit);
  a.producer.flush();
  CHECK(a.stored() == Batches{{kMaxBatchBytes, 2}});
}

TEST_CASE("a record that cannot fit in a batch alone is refused before anything is written") {
  Appends a;
  a.add(kSmall);
  size_t too_big = kMaxBatchBytes - kBatchHeaderSize - kBigOverhead + 1;
  std::string_view none;
  CHECK(a.producer.oversized(PartitionId(0), nullptr, nullptr, none, too_big - 1) == std::nullopt);
  auto why = a.producer.oversized(PartitionId(0), nullptr, nullptr, none, too_big);
  REQUIRE(why);
  CHECK(*why == fmt::format("record of {} bytes does not fit in a batch (at most 268435456 bytes, "
                            "see pspf-log(5))", too_big + kBigOverhead));
  try {
    a.add(too_big);
    FAIL("an oversized record was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_input);
  }
  CHECK(a.stored().empty());  // the queued record was not flushed by the refusal
  CHECK(a.producer.pending() == 1);
  a.producer.flush();
  CHECK(a.stored() == Batches{{kBatchHeaderSize + kSmallRecord, 1}});
}
