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
#include "pspf/processor.h"

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

class Worker {
 public:
  Worker(const ConsumeOptions& o, Log& log, Consumer& c, TransformOutput* output)
      : o_(o), c_(c), processor_(log, c, processor_options(o), job_factory(o), output, note, [] {
          return stop_signal() != 0;
        }) {}

  // Runs until done; returns the exit code.
  int run() {
    auto& out = stdout_output();
    out.set_line_buffered(!o_.exit_at_end);
    rebalance();
    auto last_activity = Clock::now();
    int64_t idle_ms = o_.idle_exit ? parse_duration_ms(*o_.idle_exit) : -1;
    while (!stop_signal() && !processor_.failed()) {
      bool progressed = o_.exec ? processor_.step() : step_plain();
      if (progressed) last_activity = Clock::now();
      if (o_.count && delivered() >= *o_.count) break;
      if (o_.exit_at_end && processor_.idle() && c_.finished()) {
        // Done when what was delivered is committed: a commit the group refused
        // while it rebalanced is sent again at each rebalance() until recorded.
        if (!o_.exec) commit_plain();
        if (!c_.commits_pending()) break;
      }
      if (idle_ms >= 0 && processor_.idle() &&
          Clock::now() - last_activity >= milliseconds(idle_ms))
        break;
      if (Clock::now() >= next_rebalance_) rebalance();
      if (!progressed) {
        wait();
        // Before handing out what woke us: a forced reset written before that data
        // must be followed first, or its events would be handed out twice.
        follow_resets();
      }
    }
    // Stopping: let running commands finish, commit what succeeded.
    processor_.finish_running();
    if (!o_.exec) commit_plain();
    if (processor_.failed()) return kExitFailure;
    if (processor_.interrupted() && stop_signal()) return 128 + stop_signal();
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
    auto change = c_.rebalance([&](PartitionId p) { return processor_.busy(p); });
    for (PartitionId p : change.released) processor_.drop(p);
    next_rebalance_ = Clock::now() + kRebalanceEvery;
  }

  // A partition with a batch in hand is not reset under it: its commit is refused.
  void follow_resets() {
    c_.follow_resets([&](PartitionId p) { return processor_.holds(p); });
  }

  // One turn over the owned partitions, in the same order each time: kPlainTurn
  // records of each at most.
  bool step_plain() {
    auto& out = stdout_output();
    bool any = false;
    try {
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
    } catch (const Error& e) {
      // Damage in the log, or a value that cannot print, stops the member (exit 1).
      // The events printed before it were delivered: commit them (the position stops
      // before the record that failed), so that a run after pspf-topics repair goes on
      // from there instead of printing them again.
      if (e.code() == Errc::corrupt) commit_plain();
      throw;
    }
    if (any) out.flush();
    if (Clock::now() - last_commit_ >= kPlainCommitEvery) commit_plain();
    return any;
  }

  void commit_plain() {
    stdout_output().flush();  // delivered to the pipe before committed
    last_commit_ = Clock::now();
    std::vector<std::pair<PartitionId, Offset>> next;
    for (PartitionId p : c_.owned()) next.emplace_back(p, c_.position(p));
    for (PartitionId p : c_.commit_all(next))  // one sync for all of them
      note(
          fmt::format("partition {} was taken over by another member or reset; "
                      "stopped reading it",
                      p.value));
  }

  // Sleeps until new data, a command's exit, a retry or batch deadline, or the next
  // membership check.
  void wait() {
    auto deadline = next_rebalance_;
    std::vector<struct pollfd> fds{{c_.wakeup_fd(), POLLIN, 0}};
    processor_.wait_points(fds, deadline);
    auto ms = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(ms, 0) + 1)) > 0 &&
        fds[0].revents)
      c_.drain_wakeups();
  }

  static ProcessorOptions processor_options(const ConsumeOptions& o) {
    ProcessorOptions po;
    po.group = o.group;
    po.batch = o.batch;
    po.batch_ms = o.batch_ms;
    po.max_attempts = o.max_attempts;
    po.parallel = o.parallel;
    po.count = o.count;
    po.dead_letter = o.dead_letter;
    po.envelope = o.envelope;
    return po;
  }

  static JobFactory job_factory(const ConsumeOptions& o) {
    std::string cmd = o.exec.value_or("");
    return [cmd](std::string_view input, bool capture) {
      return std::make_unique<ExecJob>(cmd, input, capture);
    };
  }

  uint64_t delivered() const { return o_.exec ? processor_.delivered() : delivered_; }

  const ConsumeOptions& o_;
  Consumer& c_;
  Processor processor_;     // --exec
  uint64_t delivered_ = 0;  // plain mode
  Clock::time_point next_rebalance_ = Clock::now();
  Clock::time_point last_commit_ = Clock::now();
};

}  // namespace

int run_consumer(const ConsumeOptions& o, Log& log, Consumer& c, TransformOutput* output) {
  Worker worker(o, log, c, output);
  return worker.run();
}

}  // namespace pspf::tool
