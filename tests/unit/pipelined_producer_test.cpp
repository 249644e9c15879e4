// PipelinedProducer: the inner producer gets every record once, in order, from one
// thread at a time; the hook hears of appends only in the caller's thread; a failure
// in the appender is thrown to the caller after what was durable is reported.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "pspf/error.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "pspf/partition.h"
#include "pspf/pipelined_producer.h"
#include "test_util.h"

using namespace pspf;

namespace {

struct Added {
  int32_t partition;
  std::optional<std::string> key, id;
  std::string headers, value;
  uint64_t seq;
  bool operator==(const Added&) const = default;
};

// A producer that records what it is given. Every `report_every` records it reports
// them appended; with `fail_at`, the add() of that record (counted from 1) throws
// after reporting what came before.
class Recorder final : public Producer {
 public:
  // (The name is moved in: assigned from "t", GCC 12 -O3 warns of an overlapping
  // memcpy inside std::string that cannot happen, its bug 105329.)
  explicit Recorder(int32_t partitions) {
    topic_.name = std::string("t");
    topic_.partitions = partitions;
  }
  size_t report_every = 100;
  size_t fail_at = 0;
  std::vector<Added> added;
  std::vector<std::thread::id> producer_seq_threads;
  int salvaged = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};

  struct Enter {
    Recorder& r;
    explicit Enter(Recorder& rec) : r(rec) {
      if (r.inside.fetch_add(1) != 0) r.overlapped = true;
    }
    ~Enter() { r.inside.fetch_sub(1); }
  };

  void on_append(AppendHook hook) override { hook_ = std::move(hook); }
  void create_on_first_write(std::function<TopicConfig()>) override {}
  void set_producer_id(std::string) override {}
  void expect_version(ExpectVersion) override {}
  void expect_ids(uint64_t) override {}
  PartitionId route(const std::string_view*, const std::string_view*, uint64_t) override {
    return PartitionId(1);
  }
  bool appended_before(PartitionId, uint64_t) override { return false; }
  std::optional<std::string> oversized(PartitionId, const std::string_view*,
                                       const std::string_view*, std::string_view, size_t,
                                       uint64_t) const override {
    return std::nullopt;
  }
  void add(PartitionId p, const std::string_view* key, const std::string_view* id,
           std::string_view headers, std::string_view value, uint64_t seq) override {
    Enter e(*this);
    if (added.size() + 1 == fail_at && !failed_) {
      failed_ = true;  // (once: what comes after would be appended, were it given)
      report();
      throw Error(Errc::io, "disk gone");
    }
    added.push_back({p.value, key ? std::optional(std::string(*key)) : std::nullopt,
                     id ? std::optional(std::string(*id)) : std::nullopt, std::string(headers),
                     std::string(value), seq});
    if (added.size() - reported_ >= report_every) report();
  }
  uint64_t producer_seq(PartitionId p) override {
    Enter e(*this);
    producer_seq_threads.push_back(std::this_thread::get_id());
    return static_cast<uint64_t>(p.value) + 7;
  }
  bool flush() override {
    Enter e(*this);
    report();
    return true;
  }
  void salvage() noexcept override {
    Enter e(*this);
    ++salvaged;
    report();
  }
  uint64_t appended() const override { return reported_; }
  int32_t partitions_appended() const override { return 1; }
  uint64_t duplicates() const override { return 0; }
  int64_t conflict_version() const override { return -1; }
  uint64_t pending() const override { return added.size() - reported_; }
  uint64_t truncated_bytes() const override { return 0; }
  std::vector<std::string> quarantined() const override { return {}; }
  const TopicConfig& topic() const override { return topic_; }

 private:
  void report() {
    if (reported_ == added.size()) return;
    AppendResult r;
    r.appended = Appended{Offset(static_cast<int64_t>(reported_)), Timestamp(0),
                          static_cast<uint32_t>(added.size() - reported_)};
    reported_ = added.size();
    if (hook_) hook_(PartitionId(0), r, fmt::format("batch up to {}", reported_));
  }
  TopicConfig topic_;
  AppendHook hook_;
  size_t reported_ = 0;
  bool failed_ = false;
};

Added record_of(int i) {
  Added a{i % 3, std::nullopt, std::nullopt, "", fmt::format("value {}", i), uint64_t(i) + 1};
  if (i % 4 != 0) a.key = fmt::format("k{}", i % 50);
  if (i % 10 == 0)
    a.id = std::string();  // an empty id is an id
  else if (i % 5 == 0)
    a.id = fmt::format("id{}", i);
  if (i % 7 == 0) a.headers.assign({'\x81', '\xa1', 'h', '\xa1', 'v'});
  if (i % 11 == 0) a.value.clear();
  return a;
}

void add(Producer& p, const Added& a) {
  std::string_view key = a.key ? std::string_view(*a.key) : std::string_view(),
                   id = a.id ? std::string_view(*a.id) : std::string_view();
  p.add(PartitionId(a.partition), a.key ? &key : nullptr, a.id ? &id : nullptr, a.headers, a.value,
        a.seq);
}

struct Heard {
  uint64_t records = 0;
  int64_t next = 0;  // the next base offset expected: reports come in order, each once
  bool other_thread = false;
  std::vector<std::string> batches;
};

void listen(Producer& p, Heard& h) {
  auto caller = std::this_thread::get_id();
  p.on_append([&h, caller](PartitionId, const AppendResult& r, std::string_view batch) {
    if (std::this_thread::get_id() != caller) h.other_thread = true;
    CHECK(r.appended.base.value == h.next);
    h.next += r.appended.count;
    h.records += r.appended.count;
    h.batches.emplace_back(batch);
  });
}

}  // namespace

TEST_CASE("every record reaches the inner producer once, in order, from one thread at a time") {
  auto owned = std::make_unique<Recorder>(3);
  Recorder& inner = *owned;
  PipelinedProducer p(std::move(owned), /*chunk_bytes=*/256);
  Heard heard;
  listen(p, heard);
  const int n = 20000;
  std::vector<Added> expected;
  for (int i = 0; i < n; ++i) {
    expected.push_back(record_of(i));
    add(p, expected.back());
    // The caller may ask for a resume point at any time: the appender is let finish
    // first, and the answer is remembered.
    if (i == 5000) CHECK(p.producer_seq(PartitionId(2)) == 9);
    if (i == 9000) CHECK(p.producer_seq(PartitionId(2)) == 9);
  }
  REQUIRE(p.flush());
  CHECK(inner.added == expected);
  CHECK_FALSE(inner.overlapped);
  CHECK(inner.producer_seq_threads.size() == 1);
  CHECK(heard.records == static_cast<uint64_t>(n));
  CHECK_FALSE(heard.other_thread);
  CHECK(heard.batches.back() == fmt::format("batch up to {}", n));  // the batch is carried
  CHECK(p.appended() == static_cast<uint64_t>(n));
  CHECK(p.pending() == 0);
}

TEST_CASE("a few records never start the appender: flush() applies them in the caller's thread") {
  auto owned = std::make_unique<Recorder>(3);
  Recorder& inner = *owned;
  PipelinedProducer p(std::move(owned));
  for (int i = 0; i < 3; ++i) add(p, record_of(i));
  CHECK(inner.added.empty());  // still in the chunk
  CHECK(p.pending() == 3);
  auto before = std::this_thread::get_id();
  REQUIRE(p.flush());
  CHECK(inner.added.size() == 3);
  CHECK(p.producer_seq(PartitionId(0)) == 7);
  CHECK(inner.producer_seq_threads == std::vector{before});
}

TEST_CASE("with an expected version every call goes straight to the inner producer") {
  auto owned = std::make_unique<Recorder>(3);
  Recorder& inner = *owned;
  PipelinedProducer p(std::move(owned), 16);
  p.expect_version(ExpectVersion{});
  Heard heard;
  listen(p, heard);
  for (int i = 0; i < 300; ++i) {
    add(p, record_of(i));
    CHECK(inner.added.size() == static_cast<size_t>(i) + 1);
  }
  CHECK(heard.records == 300);                  // reports are passed on at once
  CHECK(p.route(nullptr, nullptr).value == 1);  // the inner producer's routing
}

TEST_CASE("a failure in the appender is thrown to the caller, after what was durable is reported") {
  for (bool by_flush : {false, true}) {
    CAPTURE(by_flush);
    auto owned = std::make_unique<Recorder>(3);
    Recorder& inner = *owned;
    inner.fail_at = 1234;
    PipelinedProducer p(std::move(owned), 128);
    Heard heard;
    listen(p, heard);
    std::string what;
    int added = 0;
    try {
      // With by_flush, only enough to fail inside the appender; flush() then says so.
      for (; added < (by_flush ? 1300 : 100000); ++added) add(p, record_of(added));
      p.flush();
    } catch (const Error& e) {
      what = e.what();
    }
    CHECK(what == "disk gone");
    CHECK(added >= 1233);
    // Reported: the 1233 records before the failure, in the caller's thread.
    CHECK(heard.records == 1233);
    CHECK_FALSE(heard.other_thread);
    // Nothing after the failed record was given to the inner producer (invariant 4).
    CHECK(inner.added.size() == 1233);
    p.salvage();
    CHECK(inner.salvaged == 1);
    CHECK(inner.added.size() == 1233);
    CHECK_FALSE(inner.overlapped);
  }
}

TEST_CASE("salvage() appends everything read when the appender did not fail") {
  auto owned = std::make_unique<Recorder>(3);
  Recorder& inner = *owned;
  PipelinedProducer p(std::move(owned), 200);
  std::vector<Added> expected;
  for (int i = 0; i < 5000; ++i) {
    expected.push_back(record_of(i));
    add(p, expected.back());
  }
  p.salvage();  // (input that cannot be read: what was read is appended)
  CHECK(inner.added == expected);
  CHECK(inner.salvaged == 1);
  CHECK_FALSE(inner.overlapped);
}

TEST_CASE("a record too big for a batch is refused by add() itself, before it is queued") {
  auto owned = std::make_unique<Recorder>(3);
  Recorder& inner = *owned;
  PipelinedProducer p(std::move(owned), 64);
  std::string big(kMaxBatchBytes, 'x');
  CHECK(p.oversized(PartitionId(0), nullptr, nullptr, {}, big.size()).has_value());
  CHECK_THROWS_AS(p.add(PartitionId(0), nullptr, nullptr, {}, big), Error);
  REQUIRE(p.flush());
  CHECK(inner.added.empty());
  // The largest value that fits: the batch header, then a record of six fields
  // (array header, offset delta, timestamp delta, nil key, nil id, no headers: a byte
  // each) whose value takes a 5-byte bin32 header. One byte more does not fit.
  size_t largest = kMaxBatchBytes - kBatchHeaderSize - 6 - 5;
  CHECK_FALSE(p.oversized(PartitionId(0), nullptr, nullptr, {}, largest).has_value());
  CHECK(p.oversized(PartitionId(0), nullptr, nullptr, {}, largest + 1).has_value());
  std::string fits(largest, 'x');
  p.add(PartitionId(0), nullptr, nullptr, {}, fits);
  REQUIRE(p.flush());
  REQUIRE(inner.added.size() == 1);
  CHECK(inner.added[0].value.size() == largest);
}

TEST_CASE("on the local log: the records of a pipelined import are the same, ids deduplicated") {
  test::TempDir d;
  LocalLog log(d.path());
  bool created = false;
  TopicConfig t = log.open_or_create("t", 3, created);
  std::map<int32_t, std::vector<std::string>> want;  // values per partition, in order
  uint64_t reported = 0, duplicates = 0;
  {
    PipelinedProducer p(log.producer(t, SyncMode::batch), 4096);
    p.on_append([&](PartitionId, const AppendResult& r, std::string_view) {
      reported += r.appended.count;
    });
    std::map<std::string, bool> seen;
    for (int i = 0; i < 30000; ++i) {
      // Every tenth record repeats the id of an earlier one: it is left out.
      std::string id = fmt::format("e{}", i % 10 == 9 ? i - 9 : i);
      std::string_view idv = id;
      std::string value = test::value_of(i);
      PartitionId part = p.route(nullptr, &idv);
      p.add(part, nullptr, &idv, {}, value);
      if (seen.emplace(id, true).second)
        want[part.value].push_back(value);
      else
        ++duplicates;
    }
    REQUIRE(p.flush());
    CHECK(p.duplicates() == duplicates);
    CHECK(p.appended() == 30000 - duplicates);
  }
  CHECK(reported == 30000 - duplicates);
  for (int32_t part = 0; part < 3; ++part) {
    CAPTURE(part);
    std::vector<std::string> got;
    auto reader = log.reader(t, PartitionId(part));
    BatchRef b;
    while (reader->next(b)) {
      RecordIterator it(b.data, b.header);
      RecordView r;
      while (it.next(r)) got.emplace_back(r.value);
    }
    CHECK(got == want[part]);
  }
}
