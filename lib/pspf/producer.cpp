#include "pspf/producer.h"

#include <unistd.h>

#include "pspf/murmur2.h"

namespace pspf {

namespace {
// Beyond this many bytes queued over all partitions, everything is appended: memory
// stays flat whatever the partition count.
constexpr size_t kMaxPendingBytes = 16u << 20;
}  // namespace

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

Producer::~Producer() = default;

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
  Appended a = slot->writer->append(slot->batch, sync_);
  if (hook_) hook_(p, a, std::string_view(slot->batch.data(), slot->batch.size()));
  appended_ += a.count;
  pending_ -= a.count;
  pending_bytes_ -= slot->batch.size() - kBatchHeaderSize;
  slot->batch.clear();
  if (p.value == sticky_) sticky_ = (sticky_ + 1) % topic_.partitions;
}

void Producer::flush() {
  for (int32_t p = 0; p < topic_.partitions; ++p) flush_slot(PartitionId(p));
}

uint64_t Producer::truncated_bytes() const {
  uint64_t n = 0;
  for (const auto& s : slots_)
    if (s && s->writer) n += s->writer->truncated_bytes();
  return n;
}

}  // namespace pspf
