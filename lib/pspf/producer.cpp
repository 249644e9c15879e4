#include "pspf/producer.h"

#include <unistd.h>

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
  Appended appended;
  std::string batch;  // a copy for the hook, only when there is one
  uint64_t job = 0;   // the sync job that covers it (0: not handed over yet)
};

struct Producer::Slot {
  BatchBuilder batch;
  std::unique_ptr<PartitionWriter> writer;
};

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
    if (hook_) hook_(u.partition, u.appended, u.batch);
    appended_ += u.appended.count;
    unsynced_.pop_front();
  }
}

PartitionId Producer::route(const std::string_view* key) {
  if (key) return partition_for_key(*key, topic_.partitions);
  return PartitionId(sticky_);
}

void Producer::add(PartitionId p, const std::string_view* key, const std::string_view* id,
                   std::string_view headers, std::string_view value) {
  auto& slot = slots_[static_cast<size_t>(p.value)];
  if (!slot) slot = std::make_unique<Slot>();
  size_t before = slot->batch.size();
  slot->batch.add(key, id, headers, value);
  pending_bytes_ += slot->batch.size() - before;
  ++pending_;
  if (sync_ == SyncMode::always || slot->batch.size() >= batch_bytes_) flush_slot(p);
  if (pending_bytes_ > kMaxPendingBytes) flush();
}

void Producer::flush_slot(PartitionId p) {
  auto& slot = slots_[static_cast<size_t>(p.value)];
  if (!slot || slot->batch.empty()) return;
  if (!slot->writer) slot->writer = log_.writer(topic_, p);
  bool defer = sync_ == SyncMode::batch;
  Appended a = slot->writer->append(slot->batch, sync_, defer);
  pending_ -= a.count;
  if (defer) {
    unsynced_.push_back({p, a, hook_ ? std::string(slot->batch.data(), slot->batch.size()) : ""});
    unsynced_bytes_ += slot->batch.size();
  } else {
    if (hook_) hook_(p, a, std::string_view(slot->batch.data(), slot->batch.size()));
    appended_ += a.count;
  }
  pending_bytes_ -= slot->batch.size() - kBatchHeaderSize;
  slot->batch.clear();
  if (p.value == sticky_) sticky_ = (sticky_ + 1) % topic_.partitions;
  if (unsynced_bytes_ >= kSyncAheadBytes) start_sync();
  report_synced(false);
}

void Producer::flush() {
  for (int32_t p = 0; p < topic_.partitions; ++p) flush_slot(PartitionId(p));
  if (unsynced_bytes_ > 0) start_sync();
  report_synced(true);
}

uint64_t Producer::truncated_bytes() const {
  uint64_t n = 0;
  for (const auto& s : slots_)
    if (s && s->writer) n += s->writer->truncated_bytes();
  return n;
}

}  // namespace pspf
