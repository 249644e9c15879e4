// Processor: how a consumer-group member processes batches, whatever does the work
// (pspf-consume --exec runs a command; a test may run a function). It owns the
// protocol that makes processing at least once, and with an output topic exactly
// once inside the log:
//
//   1. Gather up to `batch` records of an owned partition, or wait `batch_ms` for
//      more. A batch announced before a crash is gathered again from its offset
//      range: the same records, less any that compaction removed since (none left:
//      the range is committed without a run).
//   2. With an output topic: announce [committed, last] before anything runs
//      (Consumer::announce), so that a restarted member re-forms the same batch and
//      its output gets the same derived ids (TransformOutput), named by that range.
//   3. Start the job on the batch's JSON lines. Several partitions may run at once
//      (`parallel`); of the batches ready, the partition served longest ago starts
//      first, so none waits for another's backlog.
//   4. When the job succeeds: append its output (all or nothing, durable), then
//      commit the input offsets (TransformOutput::deliver). A crash between the two
//      appends nothing twice: the output's ids are already in the topic. (On Kafka
//      both are one transaction; an aborted one counts as a failure, as in 5.)
//   5. When it fails: try again after a backoff (100 ms doubling, at most 5 s) up
//      to `max_attempts`; then set the batch aside in the dead-letter topic, with
//      pspf-error and pspf-source headers, and commit; without one, stop (failed())
//      with nothing committed for the batch, so that the next member gets it whole.
//
// A partition lost to another member while a batch was gathered but not started
// drops the batch (nothing of it was committed: the new owner hands out the same
// records); a partition with a job running is kept until the job is done with.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/batch.h"
#include "pspf/buffer.h"
#include "pspf/consumer.h"
#include "pspf/log.h"
#include "pspf/transform_output.h"

namespace pspf {

// What a job is told about the batch it runs on.
struct BatchInfo {
  std::string_view topic, group;
  PartitionId partition;
  Offset first, last;
  int attempt = 1;  // 1 for the first run, 2 for the first retry, ...
};

// One batch's work, run outside this thread (a process): started, then polled until
// it ends. A retry calls start() again on the same job.
class BatchJob {
 public:
  virtual ~BatchJob() = default;
  virtual void start(const BatchInfo& b) = 0;
  virtual bool running() const = 0;
  // Collects the result if the job has ended (waiting for it with `wait`). Returns
  // true when it has ended; status() and output() are then valid.
  virtual bool reap(bool wait) = 0;
  // 0 on success.
  virtual int status() const = 0;
  virtual std::string describe_status() const = 0;
  // What the job printed (only asked for when there is an output topic).
  virtual std::string output() const = 0;
  // A file descriptor that becomes readable when the job ends (for poll).
  virtual int exit_fd() const = 0;
};

// Makes the job for a batch: `input` is its JSON lines; `capture` says whether its
// output will be asked for.
using JobFactory = std::function<std::unique_ptr<BatchJob>(std::string_view input, bool capture)>;

struct ProcessorOptions {
  std::string group;
  size_t batch = 1000;
  int64_t batch_ms = 100;
  int max_attempts = 3;
  int parallel = 1;
  std::optional<uint64_t> count;  // stop handing out after this many records
  std::optional<std::string> dead_letter;
  bool envelope = false;  // the job reads envelopes rather than values
};

class Processor {
 public:
  using Clock = std::chrono::steady_clock;

  // `log` (borrowed, outlives this) is where --dead-letter's topic is created when
  // missing. `output` (the output topic) may be null. `note` hears what a user should know
  // (retries, partitions taken over, batches set aside); `stopping` says whether
  // the process was asked to stop (a job that fails then is not retried: its batch
  // is not committed and is handed out again next time).
  Processor(Log& log, Consumer& c, ProcessorOptions o, JobFactory jobs, TransformOutput* output,
            std::function<void(const std::string&)> note, std::function<bool()> stopping);

  // Settles ended jobs, starts retries and ready batches, gathers records. Returns
  // true when anything happened.
  bool step();
  // Stopping: waits for the running jobs and settles them (commits what succeeded).
  void finish_running();

  // A job runs (or waits to be retried) on p's batch: p must be kept.
  bool busy(PartitionId p) const;
  // A batch of p is in hand (gathered, running or waiting for a retry).
  bool holds(PartitionId p) const { return batches_.count(p.value) > 0; }
  // p was released: its batch, not started, is dropped.
  void drop(PartitionId p) { batches_.erase(p.value); }
  bool idle() const { return batches_.empty(); }

  // Records processed and committed (or set aside).
  uint64_t delivered() const { return delivered_; }
  // A batch failed for good without a dead-letter topic.
  bool failed() const { return failed_ > 0; }
  // A job failed while stopping: its batch was left uncommitted.
  bool interrupted() const { return interrupted_; }

  // For a wait: adds the exit descriptors of running jobs to `fds`, and lowers
  // `deadline` to the next retry or batch deadline.
  void wait_points(std::vector<struct pollfd>& fds, Clock::time_point& deadline) const;

 private:
  // A batch of one partition on its way to the job: its input lines, a copy of its
  // records (for the dead-letter topic), and the job running on it.
  struct Batch {
    Buffer lines;
    BatchBuilder records;
    // first: the first record's offset; next: one past the batch (past its last
    // record, or past the announced range); start: where the batch's range begins,
    // which names its output (TransformOutput ids): its first record, or for a batch
    // announced before a crash the committed offset (Consumer::announce).
    Offset first{-1}, next{-1}, start{-1};
    size_t count = 0;
    Clock::time_point started;
    std::unique_ptr<BatchJob> job;  // set once the job first started on it
    int attempts = 0;
    std::optional<Clock::time_point> retry_at;
  };

  void add(Batch& b, PartitionId p, const RecordView& r);
  bool start(PartitionId p, Batch& b);
  bool settle(PartitionId p, Batch& b);
  void commit_emptied(PartitionId p, Offset next);
  void note_lost(PartitionId p);
  void dead_letter(PartitionId p, Batch& b, const std::string& why);
  void add_error_headers(const RecordView& r, PartitionId p, const std::string& why, Buffer& out);
  int running() const;
  uint64_t pending_count() const;

  Log& log_;
  Consumer& c_;
  ProcessorOptions o_;
  JobFactory jobs_;
  TransformOutput* output_;
  std::function<void(const std::string&)> note_;
  std::function<bool()> stopping_;
  std::map<int32_t, Batch> batches_;
  std::map<int32_t, uint64_t> last_started_;  // per partition: starts_ when its batch last started
  uint64_t starts_ = 0;
  uint64_t delivered_ = 0;
  int failed_ = 0;
  bool interrupted_ = false;
};

}  // namespace pspf
