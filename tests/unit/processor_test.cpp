// The batch protocol of pspf/processor.h, with jobs that are functions (no
// processes): announce before the job runs, commit only after success and after the
// output is appended, retries, the dead letter, give-up, and a batch announced before
// a crash gathered again exactly as it was.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "log_util.h"
#include "pspf/compact.h"
#include "pspf/group_offsets.h"
#include "pspf/local_consumer.h"
#include "pspf/local_log.h"
#include "pspf/local_producer.h"
#include "pspf/local_topic_reader.h"
#include "pspf/msgpack.h"
#include "pspf/processor.h"
#include "test_util.h"

using namespace pspf;

namespace {

// What a fake job does on one attempt: its status and printed output.
struct Outcome {
  int status = 0;
  std::string output;
};

// A job that ends as soon as it starts, with what `decide` says for that attempt. It
// records every start, and what the group's offsets file held at that moment.
class FakeJob : public BatchJob {
 public:
  using Decide = std::function<Outcome(const BatchInfo&, std::string_view input)>;
  FakeJob(std::string input, Decide decide, std::vector<std::string>* starts,
          std::function<std::string()> state)
      : input_(std::move(input)), decide_(std::move(decide)), starts_(starts), state_(state) {}
  void start(const BatchInfo& b) override {
    starts_->push_back(fmt::format("{} {}..{} attempt {} [{}]", b.partition.value, b.first.value,
                                   b.last.value, b.attempt, state_()));
    result_ = decide_(b, input_);
    running_ = true;
  }
  bool running() const override { return running_; }
  bool reap(bool) override {
    running_ = false;
    return true;
  }
  int status() const override { return result_.status; }
  std::string describe_status() const override { return fmt::format("status {}", result_.status); }
  std::string output() const override { return result_.output; }
  int exit_fd() const override { return -1; }

 private:
  std::string input_;
  Decide decide_;
  std::vector<std::string>* starts_;
  std::function<std::string()> state_;
  Outcome result_;
  bool running_ = false;
};

TopicConfig make_topic(LocalLog& log, int n) {
  return test::filled_topic(const_cast<LocalLog&>(log), "in", n);
}

// A compacted one-partition topic "in" with one record per key, at offsets 0, 1, ...
// (values "v0", "v1", ...).
TopicConfig keyed_topic(LocalLog& log, const std::vector<std::string>& keys) {
  TopicConfig c;
  c.name = "in";
  c.partitions = 1;
  c.cleanup = CleanupPolicy{true, false};
  TopicConfig t = log.create_topic(c);
  std::unique_ptr<Producer> p = log.producer(t, SyncMode::batch);
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string v = test::value_of(static_cast<int>(i));
    std::string_view k = keys[i];
    p->add(PartitionId(0), &k, nullptr, {}, v);
  }
  p->flush();
  return t;
}

// Compacts topic t (its active segment too): the latest record of each key is kept.
void compact_all(LocalLog& log, const TopicConfig& t) {
  CompactOptions o;
  o.roll = true;
  log.compact(t, o);
}

// A job that succeeds and prints `text`, every time.
FakeJob::Decide prints(std::string text) {
  return [text](const BatchInfo&, std::string_view) { return Outcome{0, text}; };
}

// A member that announces the batch [0, last] of in/0 and is gone before it commits.
void announce_and_crash(LocalLog& log, const TopicConfig& t, Offset last) {
  LocalConsumer c(log, "g", t, Position{}, true);
  c.rebalance([](PartitionId) { return false; });
  REQUIRE(c.announce(PartitionId(0), Offset(0), last));
}

// Offsets of the records of in/0.
std::vector<int64_t> offsets_of(const LocalLog& log, const TopicConfig& t) {
  std::vector<int64_t> out;
  LocalTopicReader reader(log, t, ReadOptions{});
  PartitionId p;
  RecordView r;
  while (reader.next(p, r)) out.push_back(r.offset.value);
  return out;
}

// "offset/announced last" of group g for in/0 (-1: no announce that counts), or "-".
std::string group_state(const std::string& dir) {
  auto state = GroupOffsets(dir, "g").load();
  auto it = state.find(TopicPartition{"in", 0});
  if (it == state.end()) return "-";
  const Committed& c = it->second;
  return fmt::format("{}/{}", c.offset.value,
                     c.pending_last >= c.offset.value ? c.pending_last : -1);
}

// Every record of topic `name`: "key|id|value" with the value as JSON-ish text.
std::vector<std::string> records_of(const LocalLog& log, const std::string& name) {
  std::vector<std::string> out;
  auto t = log.find_topic(name);
  if (!t) return out;
  LocalTopicReader reader(log, *t, ReadOptions{});
  PartitionId p;
  RecordView r;
  while (reader.next(p, r)) {
    std::string headers;
    if (!r.headers.empty()) {
      std::vector<std::pair<std::string_view, std::string_view>> kv;
      msgpack_read_string_map(r.headers, kv);
      for (auto& [k, v] : kv) fmt::format_to(std::back_inserter(headers), " {}={}", k, v);
    }
    std::string_view key = r.has_key ? r.key : "-", id = r.has_id ? r.id : "-";
    out.push_back(fmt::format("{}|{}|{}{}", key, id, r.value.size(), headers));
  }
  return out;
}

struct Run {
  std::vector<std::string> starts, notes;
  uint64_t delivered = 0;
  bool failed = false;
};

// Runs a processor over topic t until the member has nothing left (or failed).
Run run(LocalLog& log, const TopicConfig& t, ProcessorOptions o, FakeJob::Decide decide,
        TransformOutput* output) {
  Run r;
  LocalConsumer c(log, "g", t, Position{}, true);
  c.rebalance([](PartitionId) { return false; });
  std::string dir = log.dir();
  Processor proc(
      log, c, o,
      [&](std::string_view input, bool) {
        return std::make_unique<FakeJob>(std::string(input), decide, &r.starts,
                                         [dir] { return group_state(dir); });
      },
      output, [&](const std::string& n) { r.notes.push_back(n); }, [] { return false; });
  // Steps until done; when a step does nothing, waits for the processor's next
  // deadline (a retry's backoff) as pspf-consume's loop does.
  auto give_up = Processor::Clock::now() + std::chrono::seconds(20);
  while (!proc.failed() && !(proc.idle() && c.finished()) && Processor::Clock::now() < give_up) {
    if (proc.step()) continue;
    std::vector<struct pollfd> fds;
    auto deadline = Processor::Clock::now() + std::chrono::milliseconds(100);
    proc.wait_points(fds, deadline);
    std::this_thread::sleep_until(deadline);
  }
  REQUIRE((proc.failed() || (proc.idle() && c.finished())));
  r.delivered = proc.delivered();
  r.failed = proc.failed();
  return r;
}

ProcessorOptions options(size_t batch, int max_attempts = 3) {
  ProcessorOptions o;
  o.group = std::string("g");  // not = "g": GCC 12's -Wrestrict false positive
  o.batch = batch;
  o.batch_ms = 0;
  o.max_attempts = max_attempts;
  return o;
}

}  // namespace

TEST_CASE("each batch runs once and is committed after it succeeds") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 5);
  Run r = run(
      log, t, options(2), [](const BatchInfo&, std::string_view) { return Outcome{}; }, nullptr);
  // Without an output topic nothing is announced; each start sees the previous commit.
  CHECK(r.starts == std::vector<std::string>{"0 0..1 attempt 1 [0/-1]", "0 2..3 attempt 1 [2/-1]",
                                             "0 4..4 attempt 1 [4/-1]"});
  CHECK(r.delivered == 5);
  CHECK(group_state(d.path()) == "5/-1");
}

TEST_CASE("with an output topic: announced before the job runs, output appended with derived ids") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 3);
  TransformOutput out(log, "out", 1, "", "g", "in");
  Run r = run(
      log, t, options(2),
      [](const BatchInfo& b, std::string_view) {
        return Outcome{0, fmt::format("{{\"n\":{}}}\n{{\"n\":{}}}\n", b.first.value, b.last.value)};
      },
      &out);
  // The batch [first, last] is announced (pending_last) before its job starts.
  CHECK(r.starts == std::vector<std::string>{"0 0..1 attempt 1 [0/1]", "0 2..2 attempt 1 [2/2]"});
  CHECK(group_state(d.path()) == "3/-1");
  // Ids say where each output line came from: group/topic/partition/range/line.
  CHECK(records_of(log, "out") == std::vector<std::string>{"-|g/in/0/0-1/0|4", "-|g/in/0/0-1/1|4",
                                                           "-|g/in/0/2-2/0|4", "-|g/in/0/2-2/1|4"});
}

TEST_CASE(
    "a batch announced before a crash is gathered again exactly, and its output not doubled") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 5);
  // The crashed member had announced [0, 2] and appended its output.
  announce_and_crash(log, t, Offset(2));
  TransformOutput first(log, "out", 1, "", "g", "in");
  REQUIRE_FALSE(first.append(PartitionId(0), Offset(0), Offset(2), "{\"a\":1}\n").has_value());
  TransformOutput out(log, "out", 1, "", "g", "in");
  Run r = run(log, t, options(4), prints("{\"a\":1}\n"), &out);
  // The batch size is 4, but the announced batch is 0..2, as before the crash.
  CHECK(r.starts == std::vector<std::string>{"0 0..2 attempt 1 [0/2]", "0 3..4 attempt 1 [3/4]"});
  CHECK(out.duplicates() == 1);
  CHECK(records_of(log, "out") == std::vector<std::string>{"-|g/in/0/0-2/0|4", "-|g/in/0/3-4/0|4"});
}

TEST_CASE(
    "an announced batch that compaction thinned is gathered from what is left of its range, "
    "with the same ids") {
  // pspf-consume --to stalled for good here: the member waited for a batch ending
  // exactly at the announced offset, which compaction had removed, while the
  // records past it filled the batch instead.
  test::TempDir d;
  LocalLog log(d.path());
  // Offsets 0..5; compaction removes 0 (a comes again at 3) and 2 (c again at 4).
  TopicConfig t = keyed_topic(log, {"a", "b", "c", "a", "c", "d"});
  announce_and_crash(log, t, Offset(2));  // the batch [0, 2], then a crash
  // The crashed member had appended its output for [0, 2].
  TransformOutput first(log, "out", 1, "", "g", "in");
  REQUIRE_FALSE(first.append(PartitionId(0), Offset(0), Offset(2), "{\"a\":1}\n").has_value());
  compact_all(log, t);
  REQUIRE(offsets_of(log, t) == std::vector<int64_t>{1, 3, 4, 5});
  TransformOutput out(log, "out", 1, "", "g", "in");
  Run r = run(
      log, t, options(4),
      [](const BatchInfo&, std::string_view input) {
        return Outcome{
            0, fmt::format("{{\"lines\":{}}}\n", std::count(input.begin(), input.end(), '\n'))};
      },
      &out);
  // The announced batch is what is left of [0, 2]: offset 1 alone, under the ids of
  // [0, 2] (so the output appended before the crash is recognised), committed past 2.
  REQUIRE(r.starts.size() == 2);
  CHECK(r.starts[0] == "0 1..2 attempt 1 [0/2]");
  CHECK(r.starts[1] == "0 3..5 attempt 1 [3/5]");
  CHECK(out.duplicates() == 1);
  CHECK(records_of(log, "out") == std::vector<std::string>{"-|g/in/0/0-2/0|4", "-|g/in/0/3-5/0|8"});
  CHECK(group_state(d.path()) == "6/-1");
}

TEST_CASE("an announced batch whose records compaction all removed is committed without a run") {
  test::TempDir d;
  LocalLog log(d.path());
  // Offsets 0..3; compaction removes 0 and 1 (a and b come again at 2 and 3).
  TopicConfig t = keyed_topic(log, {"a", "b", "a", "b"});
  announce_and_crash(log, t, Offset(1));
  compact_all(log, t);
  REQUIRE(offsets_of(log, t) == std::vector<int64_t>{2, 3});
  TransformOutput out(log, "out", 1, "", "g", "in");
  Run r = run(log, t, options(4), prints("{}\n"), &out);
  CHECK(r.starts == std::vector<std::string>{"0 2..3 attempt 1 [2/3]"});
  CHECK(records_of(log, "out") == std::vector<std::string>{"-|g/in/0/2-3/0|1"});
  CHECK(group_state(d.path()) == "4/-1");
}

TEST_CASE("a gap before a batch is committed before the batch is announced") {
  // So the announced range starts at the batch's first record, and a member that
  // hands it out again names it the same even if compaction removes that record.
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = keyed_topic(log, {"a", "b", "a", "c"});
  compact_all(log, t);  // 0 goes (a comes again at 2)
  REQUIRE(offsets_of(log, t) == std::vector<int64_t>{1, 2, 3});
  TransformOutput out(log, "out", 1, "", "g", "in");
  Run r = run(log, t, options(2), prints("{}\n"), &out);
  // The group starts at 0; the first batch is 1..2, announced as [1, 2] after 1 was
  // committed.
  CHECK(r.starts == std::vector<std::string>{"0 1..2 attempt 1 [1/2]", "0 3..3 attempt 1 [3/3]"});
  CHECK(records_of(log, "out") == std::vector<std::string>{"-|g/in/0/1-2/0|1", "-|g/in/0/3-3/0|1"});
  CHECK(group_state(d.path()) == "4/-1");
}

TEST_CASE("a failed attempt is retried; output that is not JSON counts as a failure") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 2);
  TransformOutput out(log, "out", 1, "", "g", "in");
  Run r = run(
      log, t, options(10),
      [](const BatchInfo& b, std::string_view) {
        if (b.attempt == 1) return Outcome{0, "not json\n"};
        return Outcome{0, "{\"ok\":true}\n"};
      },
      &out);
  REQUIRE(r.starts.size() == 2);
  CHECK(r.starts[1] == "0 0..1 attempt 2 [0/1]");
  REQUIRE(r.notes.size() == 1);
  CHECK(r.notes[0].find("output line 1 is not valid JSON") != std::string::npos);
  CHECK(r.notes[0].find("attempt 1 of 3") != std::string::npos);
  CHECK(records_of(log, "out").size() == 1);
  CHECK(group_state(d.path()) == "2/-1");
}

TEST_CASE("after the last attempt: set aside with pspf-error and pspf-source, then committed") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 3);
  ProcessorOptions o = options(2, 2);
  o.dead_letter = "dlq";
  Run r = run(
      log, t, o,
      [](const BatchInfo& b, std::string_view) {
        return Outcome{b.first.value == 0 ? 7 : 0, ""};
      },
      nullptr);
  CHECK(r.starts == std::vector<std::string>{"0 0..1 attempt 1 [0/-1]", "0 0..1 attempt 2 [0/-1]",
                                             "0 2..2 attempt 1 [2/-1]"});
  CHECK(r.delivered == 3);
  CHECK_FALSE(r.failed);
  std::string why = "command failed on partition 0 offsets 0..1 (status 7), attempt 2 of 2";
  CHECK(records_of(log, "dlq") ==
        std::vector<std::string>{fmt::format("-|-|3 pspf-error={} pspf-source=in/0/0", why),
                                 fmt::format("-|-|3 pspf-error={} pspf-source=in/0/1", why)});
  CHECK(group_state(d.path()) == "3/-1");
}

TEST_CASE("after the last attempt without a dead letter: failed, nothing committed for the batch") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 3);
  Run r = run(
      log, t, options(2, 2),
      [](const BatchInfo&, std::string_view) {
        return Outcome{1, ""};
      },
      nullptr);
  CHECK(r.failed);
  CHECK(r.delivered == 0);
  CHECK(r.starts.size() == 2);
  CHECK(group_state(d.path()) == "0/-1");
}

TEST_CASE("the job reads the batch as JSON lines, one value per record") {
  test::TempDir d;
  LocalLog log(d.path());
  TopicConfig t = make_topic(log, 2);
  std::vector<std::string> inputs;
  auto keep = [&](const BatchInfo&, std::string_view input) {
    inputs.emplace_back(input);
    return Outcome{};
  };
  run(log, t, options(10), keep, nullptr);
  CHECK(inputs == std::vector<std::string>{"\"v0\"\n\"v1\"\n"});
}
