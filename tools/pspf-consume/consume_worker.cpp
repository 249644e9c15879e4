#include "pspf-consume/consume_worker.h"

#include <poll.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include "common/output.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf-consume/exec_job.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/position.h"
#include "pspf/producer.h"
#include "pspf/watcher.h"

namespace pspf::tool {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often a member checks the group's membership (and for a forced reset): a
// member that joins gets its share within about this, plus the batches in hand.
constexpr milliseconds kRebalanceEvery{100};
constexpr milliseconds kPlainCommitEvery{100};
constexpr size_t kOutputChunk = 1 << 20;
// Plain mode takes at most this many records of one partition before it turns to
// the next (Kafka's max.poll.records), so no partition waits for another's backlog.
constexpr size_t kPlainTurn = 500;

// A batch of one partition on its way to the command: its input lines, a copy of its
// records (for the dead-letter topic), and the command running on it.
struct Batch {
  Buffer lines;
  BatchBuilder records;
  Offset first{-1}, next{-1};
  size_t count = 0;
  Clock::time_point started;
  std::unique_ptr<ExecJob> job;  // set once the command first started on it
  int attempts = 0;
  std::optional<Clock::time_point> retry_at;
};

class Worker {
 public:
  Worker(const ConsumeOptions& o, const Log& log, Consumer& c, TransformOutput* output)
      : o_(o), log_(log), c_(c), output_(output) {}

  // Runs until done; returns the exit code.
  int run() {
    auto& out = stdout_output();
    out.set_line_buffered(!o_.exit_at_end);
    Watcher watcher(c_.watch_dirs());
    rebalance();
    auto last_activity = Clock::now();
    int64_t idle_ms = o_.idle_exit ? parse_duration_ms(*o_.idle_exit) : -1;
    while (!stop_signal() && failed_ == 0) {
      bool progressed = o_.exec ? step_exec() : step_plain();
      if (progressed) last_activity = Clock::now();
      if (o_.count && delivered_ >= *o_.count) break;
      if (o_.exit_at_end && batches_.empty() && c_.finished()) break;
      if (idle_ms >= 0 && batches_.empty() && Clock::now() - last_activity >= milliseconds(idle_ms))
        break;
      if (Clock::now() >= next_rebalance_) rebalance();
      if (!progressed) {
        wait(watcher);
        // Before handing out what woke us: a forced reset written before that data
        // must be followed first, or its events would be handed out twice.
        follow_resets();
      }
    }
    // Stopping: let running commands finish, commit what succeeded.
    for (auto& [p, b] : batches_)
      if (b.job && b.job->running()) {
        b.job->reap(true);
        finish(PartitionId(p), b);
      }
    if (!o_.exec) commit_plain();
    if (failed_) return kExitFailure;
    if (interrupted_ && stop_signal()) return 128 + stop_signal();
    return kExitOk;
  }

 private:
  void rebalance() {
    follow_resets();               // an idle member notices a reset within kRebalanceEvery
    if (!o_.exec) commit_plain();  // a partition given up must have its offset committed
    // A partition is kept while a command runs on its batch (or waits to be retried
    // on it). A batch gathered but not started yet is dropped with its partition:
    // nothing of it was committed, so its new owner hands the same records out. A
    // joining member thus gets its share as soon as the batches in hand are done.
    auto busy = [&](PartitionId p) {
      auto it = batches_.find(p.value);
      return it != batches_.end() && it->second.job != nullptr;
    };
    auto change = c_.rebalance(busy);
    for (PartitionId p : change.released) batches_.erase(p.value);
    next_rebalance_ = Clock::now() + kRebalanceEvery;
  }

  // A partition with a batch in hand is not reset under it: its commit is refused.
  void follow_resets() {
    c_.follow_resets([&](PartitionId p) { return batches_.count(p.value) > 0; });
  }

  // One turn over the owned partitions, in the same order each time: kPlainTurn
  // records of each at most.
  bool step_plain() {
    auto& out = stdout_output();
    bool any = false;
    for (PartitionId p : c_.owned()) {
      size_t max = kPlainTurn;
      if (o_.count) max = std::min<size_t>(max, *o_.count - delivered_);
      if (max == 0) break;
      size_t n = c_.poll(p, max, [&](const RecordView& r) {
        write_record_line(c_.topic().name, p, r, o_.envelope, out.buffer());
        if (out.buffer().size() >= kOutputChunk) out.flush();  // big writes, flat memory
      });
      delivered_ += n;
      any = any || n > 0;
    }
    if (any) out.flush();
    if (Clock::now() - last_commit_ >= kPlainCommitEvery) commit_plain();
    return any;
  }

  void commit_plain() {
    stdout_output().flush();  // delivered to the pipe before committed
    last_commit_ = Clock::now();
    for (PartitionId p : c_.owned())
      if (!c_.commit(p, c_.position(p)))
        note(
            fmt::format("partition {} was taken over by another member or reset; "
                        "stopped reading it",
                        p.value));
  }

  bool step_exec() {
    bool any = false;
    // Collect finished commands.
    for (auto it = batches_.begin(); it != batches_.end();) {
      Batch& b = it->second;
      PartitionId p(it->first);
      if (b.job && b.job->running() && b.job->reap(false)) {
        any = true;
        if (finish(p, b)) {
          it = batches_.erase(it);
          continue;
        }
      }
      if (b.retry_at && Clock::now() >= *b.retry_at && running() < o_.parallel && !start(p, b)) {
        it = batches_.erase(it);
        continue;
      }
      ++it;
    }
    // Fill batches and start commands (none once a batch has failed for good: the
    // consumer is stopping).
    std::vector<PartitionId> ready;
    for (PartitionId p : c_.owned()) {
      if (failed_) break;
      Batch& b = batches_[p.value];
      if (b.job) continue;
      size_t room = o_.batch - b.count;
      if (o_.count) room = std::min<size_t>(room, *o_.count - delivered_ - pending_count());
      // A batch announced before a crash is handed out again exactly as it was.
      std::optional<Offset> announced = o_.to ? c_.announced(p) : std::nullopt;
      if (announced)
        room =
            static_cast<size_t>(std::max<int64_t>(announced->value + 1 - c_.position(p).value, 0));
      size_t n = room ? c_.poll(p, room, [&](const RecordView& r) { add(b, p, r); }) : 0;
      any = any || n > 0;
      if (b.count == 0) {
        batches_.erase(p.value);
        continue;
      }
      bool full = b.count >= o_.batch || (o_.count && delivered_ + pending_count() >= *o_.count);
      bool waited = Clock::now() - b.started >= milliseconds(o_.batch_ms);
      if (announced ? b.next.value == announced->value + 1 : full || waited || c_.at_end(p))
        ready.push_back(p);
    }
    // Partitions take turns: of the ready batches, those of the partitions served
    // longest ago start first, so none waits for another's backlog to drain.
    std::stable_sort(ready.begin(), ready.end(), [&](PartitionId a, PartitionId b) {
      return last_started_[a.value] < last_started_[b.value];
    });
    for (PartitionId p : ready) {
      if (running() >= o_.parallel) break;
      last_started_[p.value] = ++starts_;
      if (!start(p, batches_[p.value])) batches_.erase(p.value);
      any = true;
    }
    return any;
  }

  void add(Batch& b, PartitionId p, const RecordView& r) {
    if (b.count == 0) {
      b.first = r.offset;
      b.started = Clock::now();
    }
    write_record_line(c_.topic().name, p, r, o_.envelope, b.lines);
    std::string_view key = r.key, id = r.id;
    b.records.add(r.has_key ? &key : nullptr, r.has_id ? &id : nullptr, r.headers, r.value);
    b.next = Offset(r.offset.value + 1);
    ++b.count;
  }

  // Starts (or restarts) the command on b. Returns false when p was lost to another
  // member before anything started: the batch is dropped.
  bool start(PartitionId p, Batch& b) {
    if (o_.to && b.attempts == 0 && !c_.announced(p) && !c_.announce(p, Offset(b.next.value - 1))) {
      note(
          fmt::format("partition {} was taken over by another member or reset; stopped "
                      "reading it",
                      p.value));
      return false;
    }
    if (!b.job) b.job = std::make_unique<ExecJob>(b.lines.view(), o_.to.has_value());
    b.retry_at.reset();
    ++b.attempts;
    b.job->start(*o_.exec, {{"PSPF_TOPIC", c_.topic().name},
                            {"PSPF_PARTITION", std::to_string(p.value)},
                            {"PSPF_FIRST_OFFSET", std::to_string(b.first.value)},
                            {"PSPF_LAST_OFFSET", std::to_string(b.next.value - 1)},
                            {"PSPF_GROUP", o_.group},
                            {"PSPF_ATTEMPT", std::to_string(b.attempts)}});
    return true;
  }

  // The command on b ended: commit, retry, dead-letter or fail. Returns true when
  // the batch is done with.
  bool finish(PartitionId p, Batch& b) {
    int status = b.job->status();
    std::optional<std::string> bad_output;
    if (status == 0 && output_)
      bad_output = output_->append(p, b.first, Offset(b.next.value - 1), b.job->output());
    if (status == 0 && !bad_output) {
      delivered_ += b.count;
      if (!c_.commit(p, b.next))
        note(
            fmt::format("partition {} was taken over by another member or reset; its "
                        "batch {}..{} was processed but not committed",
                        p.value, b.first.value, b.next.value - 1));
      return true;
    }
    std::string why = fmt::format(
        "command failed on partition {} offsets {}..{} ({}), attempt {} of {}", p.value,
        b.first.value, b.next.value - 1, bad_output ? *bad_output : b.job->describe_status(),
        b.attempts, o_.max_attempts);
    if (stop_signal()) {
      interrupted_ = true;  // not committed: it is handed out again next time
      return true;
    }
    note(why);
    if (b.attempts < o_.max_attempts) {
      int64_t backoff = std::min<int64_t>(100LL << (b.attempts - 1), 5000);
      b.retry_at = Clock::now() + milliseconds(backoff);
      return false;
    }
    if (!o_.dead_letter) {
      ++failed_;
      note(
          fmt::format("giving up: nothing committed for that batch (--dead-letter TOPIC "
                      "would set it aside and go on)"));
      return true;
    }
    dead_letter(p, b, why);
    delivered_ += b.count;
    c_.commit(p, b.next);
    return true;
  }

  void dead_letter(PartitionId p, Batch& b, const std::string& why) {
    bool created = false;
    Log& log = const_cast<Log&>(log_);
    TopicConfig dlq = log.open_or_create(*o_.dead_letter, c_.topic().partitions, created);
    Producer producer(log_, dlq, SyncMode::batch);
    std::string_view sealed = b.records.seal(Offset(0), Timestamp(0));
    RecordView r;
    Buffer headers;
    // Every record must fit in a batch with its error headers; check them all before
    // setting any aside, so that a refused batch leaves nothing half set aside.
    for (bool append : {false, true}) {
      RecordIterator it(sealed.data(), decode_batch_header(sealed.data()));
      while (it.next(r)) {
        headers.clear();
        add_error_headers(r, p, why, headers);
        std::string_view key = r.key, id = r.id;
        const std::string_view* kp = r.has_key ? &key : nullptr;
        const std::string_view* ip = r.has_id ? &id : nullptr;
        PartitionId to = producer.route(kp, ip);
        if (!append) {
          if (auto big = producer.oversized(to, kp, ip, headers.view(), r.value.size()))
            throw Error(Errc::invalid_input,
                        fmt::format("cannot set partition {} offset {} aside in topic {}: {}",
                                    p.value, r.offset.value, dlq.name, *big));
          continue;
        }
        producer.add(to, kp, ip, headers.view(), r.value);
      }
    }
    producer.flush();
    note(fmt::format("set {} events aside in topic {}", b.count, dlq.name));
  }

  void add_error_headers(const RecordView& r, PartitionId p, const std::string& why, Buffer& out) {
    std::vector<std::pair<std::string_view, std::string_view>> kv;
    // Headers that are not a map of strings (bytes no pspf tool writes) are not
    // copied, rather than copied half-read: the dead letter keeps the pspf-* ones.
    if (!r.headers.empty()) msgpack_read_string_map(r.headers, kv);
    std::string src = fmt::format("{}/{}/{}", c_.topic().name, p.value, r.offset.value);
    kv.emplace_back("pspf-error", why);
    kv.emplace_back("pspf-source", src);
    msgpack_put_string_map(out, kv);
  }

  int running() const {
    int n = 0;
    for (const auto& [p, b] : batches_) n += b.job && b.job->running();
    return n;
  }

  uint64_t pending_count() const {
    uint64_t n = 0;
    for (const auto& [p, b] : batches_) n += b.count;
    return n;
  }

  // Sleeps until new data, a command's exit, a retry or batch deadline, or the next
  // membership check.
  void wait(Watcher& watcher) {
    auto deadline = next_rebalance_;
    std::vector<struct pollfd> fds{{watcher.fd(), POLLIN, 0}};
    for (const auto& [p, b] : batches_) {
      if (b.job && b.job->running()) fds.push_back({b.job->exit_fd(), POLLIN, 0});
      if (b.retry_at) deadline = std::min(deadline, *b.retry_at);
      if (!b.job && b.count) deadline = std::min(deadline, b.started + milliseconds(o_.batch_ms));
    }
    auto ms = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(ms, 0) + 1)) > 0 &&
        fds[0].revents)
      watcher.drain();
  }

  const ConsumeOptions& o_;
  const Log& log_;
  Consumer& c_;
  TransformOutput* output_;  // with --to
  std::map<int32_t, Batch> batches_;
  std::map<int32_t, uint64_t> last_started_;  // per partition: starts_ when its batch last started
  uint64_t starts_ = 0;
  uint64_t delivered_ = 0;
  int failed_ = 0;
  bool interrupted_ = false;
  Clock::time_point next_rebalance_ = Clock::now();
  Clock::time_point last_commit_ = Clock::now();
};

}  // namespace

int run_consumer(const ConsumeOptions& o, const Log& log, Consumer& c, TransformOutput* output) {
  Worker worker(o, log, c, output);
  return worker.run();
}

}  // namespace pspf::tool
