#include "pspf/processor.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/msgpack.h"
#include "pspf/producer.h"

namespace pspf {

using std::chrono::milliseconds;

Processor::Processor(Log& log, Consumer& c, ProcessorOptions o, JobFactory jobs,
                     TransformOutput* output, std::function<void(const std::string&)> note,
                     std::function<bool()> stopping)
    : log_(log),
      c_(c),
      o_(std::move(o)),
      jobs_(std::move(jobs)),
      output_(output),
      note_(std::move(note)),
      stopping_(std::move(stopping)) {}

bool Processor::busy(PartitionId p) const {
  auto it = batches_.find(p.value);
  return it != batches_.end() && it->second.job != nullptr;
}

bool Processor::step() {
  bool any = false;
  // Settle ended jobs and start the retries that are due.
  for (auto it = batches_.begin(); it != batches_.end();) {
    Batch& b = it->second;
    PartitionId p(it->first);
    if (b.job && b.job->running() && b.job->reap(false)) {
      any = true;
      if (settle(p, b)) {
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
  // Gather batches and start jobs (none once a batch has failed for good: the member
  // is stopping).
  std::vector<PartitionId> ready;
  for (PartitionId p : c_.owned()) {
    if (failed_) break;
    Batch& b = batches_[p.value];
    if (b.job) continue;
    size_t room = o_.batch - b.count;
    if (o_.count) room = std::min<size_t>(room, *o_.count - delivered_ - pending_count());
    // A batch announced before a crash is handed out again as it was: the records of
    // its range [committed, announced] that are left (compaction may have removed
    // some since, or all), under the same name.
    std::optional<Offset> announced = output_ ? c_.announced(p) : std::nullopt;
    auto add_to_b = [&](const RecordView& r) { add(b, p, r); };
    size_t n = 0;
    if (announced)
      n = c_.poll_until(p, Offset(announced->value + 1), add_to_b);
    else if (room)
      n = c_.poll(p, room, add_to_b);
    any = any || n > 0;
    bool whole = announced && c_.position(p).value > announced->value;
    if (whole && b.count == 0) {  // nothing of it is left: done, without a run
      commit_emptied(p, Offset(announced->value + 1));
      batches_.erase(p.value);
      any = true;
      continue;
    }
    if (b.count == 0) {
      batches_.erase(p.value);
      continue;
    }
    if (announced) b.start = c_.committed(p);  // its name, whatever record comes first now
    if (whole) b.next = Offset(announced->value + 1);
    bool full = b.count >= o_.batch || (o_.count && delivered_ + pending_count() >= *o_.count);
    bool waited = Clock::now() - b.started >= milliseconds(o_.batch_ms);
    if (announced ? whole : full || waited || c_.at_end(p)) ready.push_back(p);
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

void Processor::finish_running() {
  for (auto& [p, b] : batches_)
    if (b.job && b.job->running()) {
      b.job->reap(true);
      settle(PartitionId(p), b);
    }
}

void Processor::note_lost(PartitionId p) {
  note_(fmt::format("partition {} was taken over by another member or reset; stopped reading it",
                    p.value));
}

// An announced batch whose records compaction all removed: there is nothing to run,
// and what its first run appended (if anything) stands. Its range is committed as a
// batch without output would be.
void Processor::commit_emptied(PartitionId p, Offset next) {
  TransformOutput::Delivery d = output_->deliver(c_, p, c_.committed(p), next, "");
  if (d.failed)
    note_(
        fmt::format("partition {}: the announced batch {}..{} is gone from the log (compacted), "
                    "and committing past it failed: {}",
                    p.value, c_.committed(p).value, next.value - 1, *d.failed));
  else if (!d.committed)
    note_lost(p);
}

void Processor::add(Batch& b, PartitionId p, const RecordView& r) {
  if (b.count == 0) {
    b.first = r.offset;
    b.start = r.offset;
    b.started = Clock::now();
  }
  write_record_line(c_.topic().name, p, r, o_.envelope, b.lines);
  std::string_view key = r.key, id = r.id;
  b.records.add(r.has_key ? &key : nullptr, r.has_id ? &id : nullptr, r.headers, r.value);
  b.next = Offset(r.offset.value + 1);
  ++b.count;
}

// Starts (or restarts) the job on b. Returns false when p was lost to another member
// before anything started: the batch is dropped.
bool Processor::start(PartitionId p, Batch& b) {
  if (output_ && b.attempts == 0 && !c_.announced(p) &&
      !c_.announce(p, b.first, Offset(b.next.value - 1))) {
    note_lost(p);
    return false;
  }
  if (!b.job) b.job = jobs_(b.lines.view(), output_ != nullptr);
  b.retry_at.reset();
  ++b.attempts;
  b.job->start(
      BatchInfo{c_.topic().name, o_.group, p, b.first, Offset(b.next.value - 1), b.attempts});
  return true;
}

// The job on b ended: append its output and commit, retry, set aside or fail. Returns
// true when the batch is done with.
bool Processor::settle(PartitionId p, Batch& b) {
  int status = b.job->status();
  std::optional<std::string> bad_output;
  bool committed = false;
  if (status == 0 && output_) {
    TransformOutput::Delivery d = output_->deliver(c_, p, b.start, b.next, b.job->output());
    bad_output = d.failed;
    committed = d.committed;
  } else if (status == 0) {
    committed = c_.commit(p, b.next);
  }
  if (status == 0 && !bad_output) {
    delivered_ += b.count;
    if (!committed)
      note_(
          fmt::format("partition {} was taken over by another member or reset; its "
                      "batch {}..{} was processed but not committed",
                      p.value, b.first.value, b.next.value - 1));
    return true;
  }
  std::string why =
      fmt::format("command failed on partition {} offsets {}..{} ({}), attempt {} of {}", p.value,
                  b.first.value, b.next.value - 1,
                  bad_output ? *bad_output : b.job->describe_status(), b.attempts, o_.max_attempts);
  if (stopping_()) {
    interrupted_ = true;  // not committed: it is handed out again next time
    return true;
  }
  note_(why);
  if (b.attempts < o_.max_attempts) {
    int64_t backoff = std::min<int64_t>(100LL << (b.attempts - 1), 5000);
    b.retry_at = Clock::now() + milliseconds(backoff);
    return false;
  }
  if (!o_.dead_letter) {
    ++failed_;
    note_(
        "giving up: nothing committed for that batch (--dead-letter TOPIC would set it aside "
        "and go on)");
    return true;
  }
  dead_letter(p, b, why);
  delivered_ += b.count;
  c_.commit(p, b.next);
  return true;
}

void Processor::dead_letter(PartitionId p, Batch& b, const std::string& why) {
  bool created = false;
  TopicConfig dlq = log_.open_or_create(*o_.dead_letter, c_.topic().partitions, created);
  std::unique_ptr<Producer> out = log_.producer(dlq, SyncMode::batch);
  Producer& producer = *out;
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
  note_(fmt::format("set {} events aside in topic {}", b.count, dlq.name));
}

void Processor::add_error_headers(const RecordView& r, PartitionId p, const std::string& why,
                                  Buffer& out) {
  std::vector<std::pair<std::string_view, std::string_view>> kv;
  // Headers that are not a map of strings (bytes no pspf tool writes) are not copied,
  // rather than copied half-read: the dead letter keeps the pspf-* ones.
  if (!r.headers.empty()) msgpack_read_string_map(r.headers, kv);
  std::string src = fmt::format("{}/{}/{}", c_.topic().name, p.value, r.offset.value);
  kv.emplace_back("pspf-error", why);
  kv.emplace_back("pspf-source", src);
  msgpack_put_string_map(out, kv);
}

int Processor::running() const {
  int n = 0;
  for (const auto& [p, b] : batches_) n += b.job && b.job->running();
  return n;
}

uint64_t Processor::pending_count() const {
  uint64_t n = 0;
  for (const auto& [p, b] : batches_) n += b.count;
  return n;
}

void Processor::wait_points(std::vector<struct pollfd>& fds, Clock::time_point& deadline) const {
  for (const auto& [p, b] : batches_) {
    if (b.job && b.job->running()) fds.push_back({b.job->exit_fd(), POLLIN, 0});
    if (b.retry_at) deadline = std::min(deadline, *b.retry_at);
    if (!b.job && b.count) deadline = std::min(deadline, b.started + milliseconds(o_.batch_ms));
  }
}

}  // namespace pspf
