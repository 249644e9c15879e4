#include "pspf/producer.h"

#include <unistd.h>

#include <fmt/format.h>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/murmur2.h"

namespace pspf {

namespace {
// Beyond this many bytes queued over all partitions, everything is appended: memory
// stays flat whatever the partition count.
constexpr size_t kMaxPendingBytes = 16u << 20;
// How much may be written but not yet synced before the producer waits for it.
constexpr size_t kSyncAheadBytes = 8u << 20;
}  // namespace

struct Producer::Unsynced {
  PartitionId partition;
  AppendResult result;
  std::string batch;  // a copy for the hook, only when there is one
  uint64_t job = 0;   // the sync job that covers it (0: not handed over yet)
};

struct Producer::Slot {
  BatchBuilder batch;
  std::unique_ptr<PartitionWriter> writer;
  uint64_t last_seq = 0;
  std::optional<uint64_t> resume_from;  // the producer id's highest sequence here
};

namespace {
// The queued batch's bytes with a header that walks its records (for the hook).
std::string hook_copy(const BatchBuilder& b) {
  std::string copy(b.data(), b.size());
  encode_batch_header(b.records_header(), copy.data());
  return copy;
}
}  // namespace

Producer::Producer(const Log& log, TopicConfig topic, SyncMode sync, size_t batch_bytes)
    : log_(log),
      topic_(std::move(topic)),
      sync_(sync),
      batch_bytes_(batch_bytes),
      slots_(static_cast<size_t>(topic_.partitions)),
      sticky_(static_cast<int32_t>(::getpid() % topic_.partitions)) {}

Producer::~Producer() {
  if (syncer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    syncer_.join();
  }
}

void Producer::sync_thread() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;
    auto files = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    std::exception_ptr error;
    try {
      for (auto& [path, fd] : files) sync_data(fd.get(), path);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && !sync_error_) sync_error_ = error;
    ++sync_done_;
    cv_.notify_all();
  }
}

void Producer::start_sync() {
  std::vector<std::pair<std::string, Fd>> files;
  for (auto& slot : slots_)
    if (slot && slot->writer)
      for (auto& f : slot->writer->take_unsynced()) files.push_back(std::move(f));
  ++sync_requested_;
  for (auto& u : unsynced_)
    if (u.job == 0) u.job = sync_requested_;
  unsynced_bytes_ = 0;
  if (!syncer_.joinable()) syncer_ = std::thread([this] { sync_thread(); });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(files));
  }
  cv_.notify_all();
}

void Producer::report_synced(bool all) {
  uint64_t done;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (all) cv_.wait(lock, [&] { return sync_done_ == sync_requested_; });
    if (sync_error_) std::rethrow_exception(sync_error_);
    done = sync_done_;
  }
  while (!unsynced_.empty() && unsynced_.front().job != 0 && unsynced_.front().job <= done) {
    Unsynced& u = unsynced_.front();
    if (hook_) hook_(u.partition, u.result, u.batch);
    appended_ += u.result.appended.count;
    unsynced_.pop_front();
  }
}

PartitionId Producer::route(const std::string_view* key, const std::string_view* id) {
  if (key) return partition_for_key(*key, topic_.partitions);
  if (id) return partition_for_key(*id, topic_.partitions);
  return PartitionId(sticky_);
}

std::optional<std::string> Producer::oversized(PartitionId p, const std::string_view* key,
                                               const std::string_view* id,
                                               std::string_view headers, size_t value_size,
                                               uint64_t seq) const {
  size_t mark = producer_id_.empty() ? 0 : BatchBuilder::mark_bytes(producer_id_, seq);
  size_t alone = BatchBuilder::record_bytes(0, key, id, headers, value_size);
  if (kBatchHeaderSize + alone + mark > kMaxBatchBytes)
    return fmt::format("record of {} bytes does not fit in a batch (at most {} bytes, see "
                       "pspf-log(5))", alone, kMaxBatchBytes);
  const Slot* slot = slots_[static_cast<size_t>(p.value)].get();
  if (expect_ && slot &&
      slot->batch.size() + BatchBuilder::record_bytes(slot->batch.count(), key, id, headers,
                                                      value_size) + mark > kMaxBatchBytes)
    return fmt::format("records appended with an expected version go in one batch, and this "
                       "one would make it larger than {} bytes (see pspf-log(5))", kMaxBatchBytes);
  return std::nullopt;
}

void Producer::add(PartitionId p, const std::string_view* key, const std::string_view* id,
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
      slot->batch.size() + BatchBuilder::record_bytes(slot->batch.count(), key, id, headers,
                                                      value.size()) + mark > kMaxBatchBytes)
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

void Producer::flush_slot(PartitionId p) {
  auto& slot = slots_[static_cast<size_t>(p.value)];
  if (!slot || slot->batch.empty()) return;
  PartitionWriter& writer = writer_for(*slot, p);
  if (!producer_id_.empty()) slot->batch.set_producer_mark(producer_id_, slot->last_seq);
  bool defer = sync_ == SyncMode::batch && !expect_;
  AppendResult r = writer.append_checked(slot->batch, sync_, defer, expect_);
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
  }
  pending_bytes_ -= slot->batch.size() - kBatchHeaderSize;
  slot->batch.clear();
  if (p.value == sticky_) sticky_ = (sticky_ + 1) % topic_.partitions;
  if (unsynced_bytes_ >= kSyncAheadBytes) start_sync();
  report_synced(false);
}

PartitionWriter& Producer::writer_for(Slot& slot, PartitionId p) {
  if (!slot.writer) {
    slot.writer = log_.writer(topic_, p);
    // Keys spread a little unevenly: room for a few percent more than a fair share.
    if (expected_ids_ > 0)
      slot.writer->expect_ids(expected_ids_ / static_cast<uint64_t>(topic_.partitions) * 21 / 20);
  }
  return *slot.writer;
}

uint64_t Producer::producer_seq(PartitionId p) {
  auto& slot = slots_[static_cast<size_t>(p.value)];
  if (!slot) slot = std::make_unique<Slot>();
  if (!slot->resume_from) slot->resume_from = writer_for(*slot, p).producer_seq(producer_id_);
  return *slot->resume_from;
}

bool Producer::flush() {
  for (int32_t p = 0; p < topic_.partitions; ++p) flush_slot(PartitionId(p));
  if (unsynced_bytes_ > 0) start_sync();
  report_synced(true);
  return !conflict_;
}

uint64_t Producer::truncated_bytes() const {
  uint64_t n = 0;
  for (const auto& s : slots_)
    if (s && s->writer) n += s->writer->truncated_bytes();
  return n;
}

}  // namespace pspf
