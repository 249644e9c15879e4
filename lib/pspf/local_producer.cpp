#include "pspf/local_producer.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/quiet_thread.h"

namespace pspf {

namespace {
// Beyond this many bytes queued over all partitions, everything is appended: memory
// stays flat whatever the partition count.
constexpr size_t kMaxPendingBytes = 16u << 20;
// How much may be written but not yet synced before the producer waits for it.
constexpr size_t kSyncAheadBytes = 8u << 20;
}  // namespace

struct LocalProducer::Unsynced {
  PartitionId partition;
  AppendResult result;
  std::string batch;  // a copy for the hook, only when there is one
  uint64_t job = 0;   // the sync job that covers it (0: not handed over yet)
};

struct LocalProducer::Slot {
  BatchBuilder batch;
  std::unique_ptr<PartitionWriter> writer;
  uint64_t last_seq = 0;
  std::optional<uint64_t> resume_from;  // the producer id's highest sequence here
  bool appended = false;                // some record of this partition was reported
};

namespace {
// The queued batch's bytes with a header that walks its records (for the hook).
std::string hook_copy(const BatchBuilder& b) {
  std::string copy(b.data(), b.size());
  encode_batch_header(b.records_header(), copy.data());
  return copy;
}
}  // namespace

LocalProducer::LocalProducer(const LocalLog& log, TopicConfig topic, SyncMode sync,
                             size_t batch_bytes)
    : log_(log),
      topic_(std::move(topic)),
      sync_(sync),
      batch_bytes_(batch_bytes),
      slots_(static_cast<size_t>(topic_.partitions)),
      sticky_(static_cast<int32_t>(::getpid() % topic_.partitions)) {}

LocalProducer::~LocalProducer() {
  if (syncer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    syncer_.join();
  }
}

void LocalProducer::sync_thread() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;
    auto files = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    run_sync_job(files);
    lock.lock();
  }
}

void LocalProducer::run_sync_job(std::vector<std::pair<std::string, Fd>>& files) {
  std::exception_ptr error;
  // After a failure nothing later is synced: an fdatasync after a failed one may
  // report success for pages the kernel dropped.
  bool skip = false;
  {
    std::lock_guard<std::mutex> g(mutex_);
    skip = sync_error_ != nullptr;
  }
  try {
    if (!skip)
      for (auto& [path, fd] : files) sync_data(fd.get(), path);
  } catch (...) {
    error = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (error && !sync_error_) {
    sync_error_ = error;
    failed_job_ = sync_done_ + 1;
  }
  ++sync_done_;
  cv_.notify_all();
}

void LocalProducer::start_sync(bool last) {
  std::vector<std::pair<std::string, Fd>> files;
  std::vector<std::pair<PartitionId, PartitionWriter::SyncPoint>> points;
  for (size_t p = 0; p < slots_.size(); ++p) {
    auto& slot = slots_[p];
    if (!slot || !slot->writer || !slot->writer->holding()) continue;
    PartitionWriter::Handoff h = slot->writer->take_unsynced();
    // Nothing appended since the last handoff: an earlier job already covers it (and
    // publishing its point twice would release the lock twice).
    if (h.files.empty()) continue;
    for (auto& f : h.files) files.push_back(std::move(f));
    points.emplace_back(PartitionId(static_cast<int32_t>(p)), h.point);
  }
  ++sync_requested_;
  for (auto& u : unsynced_)
    if (u.job == 0) u.job = sync_requested_;
  unsynced_bytes_ = 0;
  points_.push_back(std::move(points));
  // The only sync of a run (one pspf-produce per event) is made here: a thread to
  // overlap it with nothing would cost more than the sync's wait.
  if (last && !syncer_.joinable()) {
    run_sync_job(files);
    return;
  }
  if (!syncer_.joinable()) syncer_ = quiet_thread([this] { sync_thread(); });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(files));
  }
  cv_.notify_all();
}

void LocalProducer::report_synced(bool all) {
  uint64_t done, failed;
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (all) cv_.wait(lock, [&] { return sync_done_ == sync_requested_; });
    done = sync_done_;
    failed = failed_job_;
    error = sync_error_;
  }
  // The jobs before a failed one succeeded: publish their points, report their
  // records. Nothing from the failed job on is ever reported.
  uint64_t good = failed ? std::min(done, failed - 1) : done;
  // A partition whose durable end could not be written cut its records of that job
  // (PartitionWriter::synced): they are not reported, and nothing after that job is.
  std::vector<PartitionId> unpublished;
  while (sync_reported_ < good) {
    for (auto& [p, point] : points_.front()) {
      try {
        slots_[static_cast<size_t>(p.value)]->writer->synced(point);
      } catch (const std::exception&) {
        unpublished.push_back(p);
        if (!error) error = std::current_exception();
      }
    }
    points_.pop_front();
    ++sync_reported_;
    if (!unpublished.empty()) {
      good = sync_reported_;
      std::lock_guard<std::mutex> lock(mutex_);
      if (!sync_error_) sync_error_ = error, failed_job_ = sync_reported_ + 1;
      break;
    }
  }
  while (!unsynced_.empty() && unsynced_.front().job != 0 && unsynced_.front().job <= good) {
    Unsynced& u = unsynced_.front();
    if (u.job == sync_reported_ &&
        std::find(unpublished.begin(), unpublished.end(), u.partition) != unpublished.end()) {
      unsynced_.pop_front();
      continue;
    }
    if (hook_) hook_(u.partition, u.result, u.batch);
    appended_ += u.result.appended.count;
    if (u.result.appended.count) slots_[static_cast<size_t>(u.partition.value)]->appended = true;
    unsynced_.pop_front();
  }
  if (error) {
    // Cut everything past each partition's published end, and let the locks go. A
    // failure to cut one partition must not keep the others from being cut; the
    // sync's failure is the one reported.
    for (auto& slot : slots_) {
      if (!slot || !slot->writer) continue;
      try {
        slot->writer->sync_failed();
      } catch (const std::exception&) {
      }
    }
    unsynced_.clear();
    points_.clear();
    std::rethrow_exception(error);
  }
}

void LocalProducer::drain() {
  if (unsynced_bytes_ > 0 || std::any_of(slots_.begin(), slots_.end(), [](const auto& s) {
        return s && s->writer && s->writer->holding();
      }))
    start_sync(true);
  report_synced(true);
}

void LocalProducer::salvage() noexcept {
  bool failed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failed = sync_error_ != nullptr;
  }
  if (failed || expect_) return drain_after_failure();  // (all or nothing: queue dropped)
  try {
    flush();
  } catch (const std::exception&) {
    // flush() reported what it made durable and cut what it could not; the failure
    // the caller is handling is the one it reports.
  }
}

int32_t LocalProducer::partitions_appended() const {
  int32_t n = 0;
  for (const auto& s : slots_) n += s && s->appended;
  return n;
}

void LocalProducer::drain_after_failure() noexcept {
  try {
    drain();
  } catch (const std::exception&) {
    // The first failure is the one the caller reports; this one has already cut what
    // its sync covered (report_synced), so nothing unsynced is ever acknowledged.
  }
}

PartitionId LocalProducer::route(const std::string_view* key, const std::string_view* id,
                                 uint64_t seq) {
  return route_fixed(key, id, seq, !producer_id_.empty(), topic_.partitions)
      .value_or(PartitionId(sticky_));
}

bool LocalProducer::appended_before(PartitionId p, uint64_t seq) {
  return !producer_id_.empty() && seq <= producer_seq(p);
}

std::optional<std::string> LocalProducer::too_big_alone(const std::string& producer_id,
                                                        const std::string_view* key,
                                                        const std::string_view* id,
                                                        std::string_view headers, size_t value_size,
                                                        uint64_t seq) {
  // Every field's MessagePack header takes at most 5 bytes, and a record has 6 fields
  // (BatchBuilder::add): a record far below the limit needs no exact count.
  size_t fields = (key ? key->size() : 0) + (id ? id->size() : 0) + headers.size() + value_size;
  if (kBatchHeaderSize + fields + producer_id.size() + 64 <= kMaxBatchBytes) return std::nullopt;
  size_t mark = producer_id.empty() ? 0 : BatchBuilder::mark_bytes(producer_id, seq);
  size_t alone = BatchBuilder::record_bytes(0, key, id, headers, value_size);
  if (kBatchHeaderSize + alone + mark > kMaxBatchBytes)
    return fmt::format(
        "record of {} bytes does not fit in a batch (at most {} bytes, see "
        "pspf-log(5))",
        alone, kMaxBatchBytes);
  return std::nullopt;
}

std::optional<std::string> LocalProducer::oversized(PartitionId p, const std::string_view* key,
                                                    const std::string_view* id,
                                                    std::string_view headers, size_t value_size,
                                                    uint64_t seq) const {
  if (auto why = too_big_alone(producer_id_, key, id, headers, value_size, seq)) return why;
  if (!expect_) return std::nullopt;
  size_t mark = producer_id_.empty() ? 0 : BatchBuilder::mark_bytes(producer_id_, seq);
  const Slot* slot = slots_[static_cast<size_t>(p.value)].get();
  if (slot &&
      slot->batch.size() +
              BatchBuilder::record_bytes(slot->batch.count(), key, id, headers, value_size) + mark >
          kMaxBatchBytes)
    return fmt::format(
        "records appended with an expected version go in one batch, and this "
        "one would make it larger than {} bytes (see pspf-log(5))",
        kMaxBatchBytes);
  return std::nullopt;
}

void LocalProducer::add(PartitionId p, const std::string_view* key, const std::string_view* id,
                        std::string_view headers, std::string_view value, uint64_t seq) {
  if (auto why = oversized(p, key, id, headers, value.size(), seq))
    throw Error(Errc::invalid_input, *why);
  auto& slot = slots_[static_cast<size_t>(p.value)];
  if (!slot) slot = std::make_unique<Slot>();
  // A batch past kMaxBatchBytes would be damage to every reader: append what is
  // queued first, and let this record start the next batch. (With an expected
  // version oversized() refused it above: that batch cannot be split.)
  size_t mark = producer_id_.empty() ? 0 : BatchBuilder::mark_bytes(producer_id_, seq);
  if (!slot->batch.empty() &&
      slot->batch.size() +
              BatchBuilder::record_bytes(slot->batch.count(), key, id, headers, value.size()) +
              mark >
          kMaxBatchBytes)
    flush_slot(p);
  size_t before = slot->batch.size();
  slot->batch.add(key, id, headers, value);
  slot->last_seq = seq;
  pending_bytes_ += slot->batch.size() - before;
  ++pending_;
  if (expect_) return;  // one batch, appended at flush()
  if (sync_ == SyncMode::always || slot->batch.size() >= batch_bytes_) flush_slot(p);
  if (pending_bytes_ > kMaxPendingBytes) flush();
}

void LocalProducer::flush_slot(PartitionId p) {
  auto& slot = slots_[static_cast<size_t>(p.value)];
  if (!slot || slot->batch.empty()) return;
  if (!producer_id_.empty()) slot->batch.set_producer_mark(producer_id_, slot->last_seq);
  bool defer = sync_ == SyncMode::batch && !expect_;
  AppendResult r;
  try {
    PartitionWriter& writer = writer_for(*slot, p);
    // Never wait for a lock while holding one: two producers holding a partition each
    // and waiting for the other's would wait forever. Sync and let go of ours first.
    if (!writer.acquire(false)) {
      drain();
      writer.acquire(true);
    }
    r = writer.append_checked(slot->batch, sync_, defer, expect_);
  } catch (...) {
    drain_after_failure();  // every record that is durable still gets its receipt
    throw;
  }
  if (r.conflict) {
    conflict_ = true;
    conflict_version_ = r.version_before;
  }
  uint32_t queued = slot->batch.count();
  pending_ -= queued;
  if (!r.duplicate_of.empty()) duplicates_ += queued - r.appended.count;
  if (r.conflict) {
    // nothing written: the hook still hears of it (receipts report the conflict)
    if (hook_) hook_(p, r, hook_copy(slot->batch));
  } else if (defer && r.appended.count > 0) {
    unsynced_.push_back({p, r, hook_ ? hook_copy(slot->batch) : ""});
    unsynced_bytes_ += slot->batch.size();
  } else {
    if (hook_) hook_(p, r, hook_copy(slot->batch));
    appended_ += r.appended.count;
    if (r.appended.count) slot->appended = true;
  }
  pending_bytes_ -= slot->batch.size() - kBatchHeaderSize;
  slot->batch.clear();
  if (p.value == sticky_) sticky_ = (sticky_ + 1) % topic_.partitions;
  if (unsynced_bytes_ >= kSyncAheadBytes) start_sync();
  report_synced(false);
}

PartitionWriter& LocalProducer::writer_for(Slot& slot, PartitionId p) {
  // Records are already routed by the count this producer was made with.
  if (create_) topic_ = create_routed_topic(create_, topic_);
  if (!slot.writer) {
    slot.writer = log_.writer(topic_, p);
    // Keys spread a little unevenly: room for a few percent more than a fair share.
    if (expected_ids_ > 0)
      slot.writer->expect_ids(expected_ids_ / static_cast<uint64_t>(topic_.partitions) * 21 / 20);
  }
  return *slot.writer;
}

uint64_t LocalProducer::producer_seq(PartitionId p) {
  auto& slot = slots_[static_cast<size_t>(p.value)];
  if (!slot) slot = std::make_unique<Slot>();
  if (!slot->resume_from) slot->resume_from = writer_for(*slot, p).producer_seq(producer_id_);
  return *slot->resume_from;
}

bool LocalProducer::flush() {
  for (int32_t p = 0; p < topic_.partitions; ++p) flush_slot(PartitionId(p));
  drain();
  return !conflict_;
}

uint64_t LocalProducer::truncated_bytes() const {
  uint64_t n = 0;
  for (const auto& s : slots_)
    if (s && s->writer) n += s->writer->truncated_bytes();
  return n;
}

std::vector<std::string> LocalProducer::quarantined() const {
  std::vector<std::string> out;
  for (const auto& s : slots_)
    if (s && s->writer)
      out.insert(out.end(), s->writer->quarantined().begin(), s->writer->quarantined().end());
  return out;
}

}  // namespace pspf
