// Producer: where records go (key, else id, else sticky) and how batches are cut
// (never past the format's limit, kMaxBatchBytes).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "pspf/murmur2.h"
#include "pspf/partition.h"
#include "pspf/paths.h"
#include "test_util.h"

using namespace pspf;

TEST_CASE("a keyless record with an id goes where its id would go as a key, in every producer") {
  test::TempDir d;
  LocalLog log(d.path());
  for (int32_t n : {3, 7, 12}) {
    CAPTURE(n);
    bool created = false;
    TopicConfig t = log.open_or_create(fmt::format("t{}", n), n, created);
    LocalProducer first(log, t, SyncMode::none), rerun(log, t, SyncMode::none);
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

TEST_CASE("a resumable import sends keyless records by input position, the same in every run") {
  test::TempDir d;
  LocalLog log(d.path());
  bool created = false;
  TopicConfig t = log.open_or_create("t", 3, created);
  LocalProducer plain(log, t, SyncMode::none), first(log, t, SyncMode::none),
      rerun(log, t, SyncMode::none);
  first.set_producer_id("imp");
  rerun.set_producer_id("imp");
  const uint64_t n = Producer::kResumeSpread;
  for (uint64_t seq : {uint64_t{1}, n, n + 1, 2 * n, 2 * n + 1, 3 * n + 1}) {
    CAPTURE(seq);
    int32_t want = static_cast<int32_t>((seq - 1) / n % 3);
    CHECK(first.route(nullptr, nullptr, seq).value == want);
    CHECK(rerun.route(nullptr, nullptr, seq).value == want);
    // Without a producer id: the sticky partition, whatever the position.
    CHECK(plain.route(nullptr, nullptr, seq).value == plain.route(nullptr, nullptr).value);
  }
  // A key or an id still decides.
  std::string_view key = "k";
  CHECK(first.route(&key, nullptr, 1).value == partition_for_key("k", 3).value);

  // What the first run appended is known to the rerun; nothing is, without an id.
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    std::string v = test::value_of(static_cast<int>(seq));
    first.add(first.route(nullptr, nullptr, seq), nullptr, nullptr, {}, v, seq);
  }
  first.flush();
  CHECK(rerun.appended_before(PartitionId(0), 5));
  CHECK_FALSE(rerun.appended_before(PartitionId(0), 6));
  CHECK_FALSE(rerun.appended_before(PartitionId(1), 1));
  CHECK_FALSE(plain.appended_before(PartitionId(0), 1));
}

namespace {

// Appends through a Producer to a one-partition topic.
struct Appends {
  test::TempDir d;
  LocalLog log{d.path()};
  TopicConfig topic;
  LocalProducer producer;

  static TopicConfig make(LocalLog& log) {
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
                            "see pspf-log(5))",
                            too_big + kBigOverhead));
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

namespace {
// True when another process could take the partition's lock now.
bool lock_free(const std::string& partition_dir) {
  FileLock l(paths::partition_lock(partition_dir));
  bool got = l.lock(false);
  l.unlock();
  return got;
}
}  // namespace

TEST_CASE(
    "a producer whose syncs span several jobs publishes each durable end, then lets every lock "
    "go") {
  test::TempDir d;
  LocalLog log(d.path());
  bool created = false;
  TopicConfig t = log.open_or_create("t", 3, created);
  LocalProducer producer(log, t, SyncMode::batch);
  std::vector<uint32_t> reported(3);
  producer.on_append([&](PartitionId p, const AppendResult& r, std::string_view) {
    reported[static_cast<size_t>(p.value)] += r.appended.count;
  });
  std::string value(1000, 'x');
  std::string packed;
  packed.push_back('\xda');  // str16 of 1000 bytes: one MessagePack value
  packed.push_back(static_cast<char>(1000 >> 8));
  packed.push_back(static_cast<char>(1000 & 0xff));
  packed += value;
  // 30 MiB over three partitions: several 8 MiB sync jobs, each holding the locks.
  const int n = 30000;
  for (int i = 0; i < n; ++i) {
    std::string key = fmt::format("k{}", i);
    std::string_view kv = key;
    producer.add(producer.route(&kv, nullptr), &kv, nullptr, {}, packed);
  }
  // Before flush: some records wait for a sync, and their partitions stay locked.
  uint64_t before = producer.appended();
  CHECK(before < static_cast<uint64_t>(n));
  REQUIRE(producer.flush());
  CHECK(producer.appended() == static_cast<uint64_t>(n));
  for (int32_t p = 0; p < 3; ++p) {
    CAPTURE(p);
    std::string dir = paths::partition_dir(d.path(), "t", PartitionId(p));
    Offset end = log.reader(t, PartitionId(p))->log_end();
    CHECK(end.value == reported[static_cast<size_t>(p)]);
    // Everything reported is published durable, and nobody is left holding the lock.
    REQUIRE(read_durable_end(dir).has_value());
    CHECK(*read_durable_end(dir) == end);
    CHECK(lock_free(dir));
  }
}

TEST_CASE(
    "a writer with a deferred sync holds the lock until the sync; a failed sync cuts what it "
    "covered") {
  test::TempDir d;
  PartitionWriter w(d.path(), "p", 1 << 20);
  BatchBuilder b;
  std::string_view v = "\xa1x";
  b.add(nullptr, nullptr, {}, v);
  w.append(b, SyncMode::batch);  // synced at once: published, lock released
  CHECK(lock_free(d.path()));
  CHECK(read_durable_end(d.path()) == Offset(1));
  b.clear();
  b.add(nullptr, nullptr, {}, v);
  b.add(nullptr, nullptr, {}, v);
  w.append(b, SyncMode::batch, /*defer_sync=*/true);
  // Written, visible to a reader, but not durable: the lock stays held, the mark stays.
  CHECK(w.holding());
  CHECK_FALSE(lock_free(d.path()));
  CHECK(read_durable_end(d.path()) == Offset(1));
  CHECK(PartitionReader(d.path(), "p").log_end() == Offset(3));
  PartitionWriter::Handoff h = w.take_unsynced();
  CHECK(h.files.size() == 1);
  CHECK(h.point.end == Offset(3));
  w.synced(h.point);
  CHECK(read_durable_end(d.path()) == Offset(3));
  CHECK(lock_free(d.path()));

  // A failed sync: everything past the published end is cut, and the lock let go.
  b.clear();
  b.add(nullptr, nullptr, {}, v);
  w.append(b, SyncMode::batch, true);
  CHECK(PartitionReader(d.path(), "p").log_end() == Offset(4));
  (void)w.take_unsynced();
  w.sync_failed();
  CHECK(PartitionReader(d.path(), "p").log_end() == Offset(3));
  CHECK(read_durable_end(d.path()) == Offset(3));
  CHECK(lock_free(d.path()));
  // The next append takes offset 3 again: the cut records were never acknowledged.
  b.clear();
  b.add(nullptr, nullptr, {}, v);
  CHECK(w.append(b, SyncMode::batch).base == Offset(3));
}

TEST_CASE("a writer that takes the lock syncs and publishes records a dead writer left unsynced") {
  test::TempDir d;
  BatchBuilder b;
  std::string_view v = "\xa1x";
  {
    PartitionWriter dead(d.path(), "p", 1 << 20);
    b.add(nullptr, nullptr, {}, v);
    dead.append(b, SyncMode::batch);
    b.clear();
    b.add(nullptr, nullptr, {}, v);
    dead.append(b, SyncMode::batch, true);  // never synced: "dies" with the lock held
  }
  CHECK(read_durable_end(d.path()) == Offset(1));
  CHECK(settle_durable_end(d.path(), "p") == Offset(2));
  CHECK(read_durable_end(d.path()) == Offset(2));
}
