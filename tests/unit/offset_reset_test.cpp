// Reset targets: each mode, clamping into the partition's range, plans as CSV.
#include <doctest/doctest.h>

#include "pspf/clock.h"
#include "pspf/error.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "pspf/offset_reset.h"
#include "test_util.h"

using namespace pspf;

namespace {
// A one-partition topic with `n` records appended in batches of 10.
TopicConfig filled(const LocalLog& log, int n) {
  TopicConfig cfg;
  cfg.name = "t";
  cfg.partitions = 1;
  TopicConfig t = pspf::create_topic(log.dir(), cfg);
  LocalProducer producer(log, t, SyncMode::none, 200);
  std::string v = test::value_of(1);
  for (int i = 0; i < n; ++i) producer.add(PartitionId(0), nullptr, nullptr, {}, v);
  producer.flush();
  return t;
}
}  // namespace

TEST_CASE("every reset mode lands inside the partition's offsets") {
  test::TempDir dir;
  LocalLog log(dir.path());
  TopicConfig t = filled(log, 50);
  PartitionId p(0);
  OffsetBounds b = log.offset_bounds(t, p);
  CHECK(b.start.value == 0);
  CHECK(b.end.value == 50);
  using K = ResetMode::Kind;
  CHECK(reset_target(log, t, p, Offset(20), {K::earliest, 0}).target.value == 0);
  CHECK(reset_target(log, t, p, Offset(20), {K::latest, 0}).target.value == 50);
  CHECK(reset_target(log, t, p, Offset(20), {K::offset, 7}).target.value == 7);
  CHECK(reset_target(log, t, p, Offset(20), {K::shift, -5}).target.value == 15);
  ResetTarget over = reset_target(log, t, p, Offset(20), {K::shift, 100});
  CHECK(over.wanted.value == 120);
  CHECK(over.target.value == 50);
  CHECK(over.clamped());
  ResetTarget under = reset_target(log, t, p, Offset(20), {K::offset, -3});
  CHECK(under.target.value == 0);
  // A time before everything is the start; one after everything is the end.
  CHECK(reset_target(log, t, p, Offset(20), {K::time, 0}).target.value == 0);
  CHECK(reset_target(log, t, p, Offset(20), {K::time, INT64_MAX / 2}).target.value == 50);
  // Shifting a partition with nothing committed cannot be done.
  CHECK_THROWS_AS(reset_target(log, t, p, Offset(-1), {K::shift, 1}), Error);
}

TEST_CASE("each kind of position names one offset of a partition") {
  test::TempDir dir;
  LocalLog log(dir.path());
  TopicConfig cfg;
  cfg.name = "t";
  cfg.partitions = 1;
  TopicConfig t = pspf::create_topic(log.dir(), cfg);
  // Offsets 0-9 appended 3 hours ago, 10-19 2 hours ago, 20-29 1 hour ago.
  Timestamp now = now_ms();
  for (int h = 3; h >= 1; --h) {
    set_clock_skew_for_tests(-h * 3'600'000);
    LocalProducer producer(log, t, SyncMode::none);
    std::string v = test::value_of(h);
    for (int i = 0; i < 10; ++i) producer.add(PartitionId(0), nullptr, nullptr, {}, v);
    producer.flush();
  }
  set_clock_skew_for_tests(0);
  auto reader = log.reader(t, PartitionId(0));
  using K = Position::Kind;
  auto at = [&](K kind, int64_t value, int64_t start = 0, int64_t end = 30) {
    return offset_of_position(*reader, {kind, value}, Offset(start), Offset(end)).value;
  };
  CHECK(at(K::beginning, 0) == 0);
  CHECK(at(K::beginning, 0, 4) == 4);
  CHECK(at(K::end, 0) == 30);
  CHECK(at(K::offset, 17) == 17);
  CHECK(at(K::offset, 99) == 99);  // as given: the caller clamps or reports it
  CHECK(at(K::last_n, 5) == 25);
  CHECK(at(K::last_n, 0) == 30);
  CHECK(at(K::last_n, 100, 4) == 4);  // never before the start
  CHECK(at(K::time, 0) == 0);
  CHECK(at(K::time, now.value - 150 * 60'000) == 10);
  CHECK(at(K::time, now.value - 90 * 60'000) == 20);
  CHECK(at(K::time, now.value - 90 * 60'000, 0, 15) == 15);  // only records below the end
  CHECK(at(K::time, now.value) == 30);
  // The reader is moved, and reads on from where it is sought.
  reader->seek(Offset(12));
  BatchRef b;
  REQUIRE(reader->next(b));
  CHECK(b.header.base_offset.value == 10);
}

TEST_CASE("plans read back as written, and bad lines name their line") {
  test::TempDir dir;
  LocalLog log(dir.path());
  TopicConfig t = filled(log, 10);
  std::vector<ResetTarget> plan{explicit_target(log, t, PartitionId(0), Offset(3), Offset(4))};
  std::string csv = format_offset_plan(plan);
  CHECK(csv == "t,0,4\n");
  auto parsed = parse_offset_plan(csv + "\n", "plan.csv");
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0].first.first == "t");
  CHECK(parsed[0].first.second == 0);
  CHECK(parsed[0].second.value == 4);
  try {
    parse_offset_plan("t,0,4\nt,zero,1\n", "plan.csv");
    FAIL("expected an input error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_input);
    std::string_view what = e.what();
    CHECK(what.find("plan.csv: line 2") != std::string_view::npos);
  }
}
