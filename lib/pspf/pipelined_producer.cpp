#include "pspf/pipelined_producer.h"

#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <utility>

#include "pspf/buffer.h"
#include "pspf/error.h"
#include "pspf/local_producer.h"
#include "pspf/quiet_thread.h"

namespace pspf {

namespace {
// Drops the lines of [p, p + n) from every cache. The appender calls it on a chunk it
// has applied, before the chunk goes back to the caller's thread to be filled again.
// Otherwise each line the caller rewrites is still held by the appender's core, and
// the caller's stores wait for it to be taken back: on this 2-vCPU machine that took
// plain imports from 0.22 s to 0.31 s of the reading thread's time (1M events), and
// the import with two threads was slower than with one. Lines evicted here are
// fetched from memory by the caller's stores, which the prefetcher sees coming
// (tests/bench/README.md). Elsewhere than x86-64 it does nothing.
void evict(const void* p, size_t n) {
#if defined(__x86_64__)
  const char* b = static_cast<const char*>(p);
  for (size_t i = 0; i < n; i += 64) _mm_clflush(b + i);
#else
  (void)p, (void)n;
#endif
}
}  // namespace

// Records copied for the appender: their fields one after another in `bytes`.
struct PipelinedProducer::Chunk {
  struct Record {
    PartitionId partition;
    bool has_key, has_id;
    uint32_t key, id, headers, value;  // the fields' lengths
    uint64_t seq;
  };
  Buffer bytes;
  std::vector<Record> records;
  void clear() {
    bytes.clear();
    records.clear();
  }
};

struct PipelinedProducer::Report {
  PartitionId partition;
  AppendResult result;
  std::string batch;
};

PipelinedProducer::PipelinedProducer(std::unique_ptr<Producer> inner, size_t chunk_bytes,
                                     size_t batch_bytes)
    : inner_(std::move(inner)),
      topic_(inner_->topic()),
      chunk_bytes_(chunk_bytes),
      batch_bytes_(batch_bytes),
      sticky_(inner_->route(nullptr, nullptr).value),  // the inner producer's first choice
      resume_from_(static_cast<size_t>(topic_.partitions)) {}

PipelinedProducer::~PipelinedProducer() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.clear();  // not flushed: dropped
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PipelinedProducer::on_append(AppendHook hook) {
  hook_ = std::move(hook);
  if (!hook_) return inner_->on_append(nullptr);
  // Called in whichever thread uses the inner producer; heard by the hook in the
  // caller's (invariant 3).
  inner_->on_append([this](PartitionId p, const AppendResult& r, std::string_view batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    reports_.push_back({p, r, std::string(batch)});
    reported_.store(true, std::memory_order_release);
  });
}

void PipelinedProducer::create_on_first_write(std::function<TopicConfig()> create) {
  inner_->create_on_first_write(std::move(create));
}

void PipelinedProducer::set_producer_id(std::string id) {
  producer_id_ = id;
  inner_->set_producer_id(std::move(id));
}

void PipelinedProducer::expect_version(ExpectVersion e) {
  direct_ = true;
  inner_->expect_version(e);
}

void PipelinedProducer::expect_ids(uint64_t records) { inner_->expect_ids(records); }

PartitionId PipelinedProducer::route(const std::string_view* key, const std::string_view* id,
                                     uint64_t seq) {
  if (direct_) return inner_->route(key, id, seq);
  return route_fixed(key, id, seq, !producer_id_.empty(), topic_.partitions)
      .value_or(PartitionId(sticky_));
}

uint64_t PipelinedProducer::producer_seq(PartitionId p) {
  if (direct_) return inner_->producer_seq(p);
  auto& known = resume_from_[static_cast<size_t>(p.value)];
  if (!known) {
    wait_idle();
    rethrow_failure();
    known = inner_->producer_seq(p);
  }
  return *known;
}

bool PipelinedProducer::appended_before(PartitionId p, uint64_t seq) {
  return !producer_id_.empty() && seq <= producer_seq(p);
}

std::optional<std::string> PipelinedProducer::oversized(PartitionId p, const std::string_view* key,
                                                        const std::string_view* id,
                                                        std::string_view headers, size_t value_size,
                                                        uint64_t seq) const {
  if (direct_) return inner_->oversized(p, key, id, headers, value_size, seq);
  return LocalProducer::too_big_alone(producer_id_, key, id, headers, value_size, seq);
}

void PipelinedProducer::add(PartitionId p, const std::string_view* key, const std::string_view* id,
                            std::string_view headers, std::string_view value, uint64_t seq) {
  if (direct_) {
    inner_->add(p, key, id, headers, value, seq);
    return deliver();
  }
  size_t size = (key ? key->size() : 0) + (id ? id->size() : 0) + headers.size() + value.size();
  if (size > kMaxBatchBytes / 2)  // (the exact rule only near the limit: add() is hot)
    if (auto why = oversized(p, key, id, headers, value.size(), seq))
      throw Error(Errc::invalid_input, *why);
  if (!filling_) filling_ = take_chunk();
  Chunk& c = *filling_;
  Chunk::Record r{p,
                  key != nullptr,
                  id != nullptr,
                  key ? static_cast<uint32_t>(key->size()) : 0,
                  id ? static_cast<uint32_t>(id->size()) : 0,
                  static_cast<uint32_t>(headers.size()),
                  static_cast<uint32_t>(value.size()),
                  seq};
  char* at = c.bytes.ensure(size);
  if (key) std::memcpy(at, key->data(), r.key);
  if (id) std::memcpy(at + r.key, id->data(), r.id);
  if (r.headers) std::memcpy(at + r.key + r.id, headers.data(), r.headers);
  if (r.value) std::memcpy(at + r.key + r.id + r.headers, value.data(), r.value);
  c.bytes.commit(size);
  c.records.push_back(r);
  // The sticky partition moves as the inner producer's would: when a batch of it is
  // full (LocalProducer::flush_slot).
  if (p.value == sticky_ && (sticky_bytes_ += size) >= batch_bytes_) {
    sticky_ = (sticky_ + 1) % topic_.partitions;
    sticky_bytes_ = 0;
  }
  if (c.bytes.size() >= chunk_bytes_) hand_over();
}

std::unique_ptr<PipelinedProducer::Chunk> PipelinedProducer::take_chunk() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!spare_.empty()) {
      auto c = std::move(spare_.back());
      spare_.pop_back();
      return c;
    }
  }
  return std::make_unique<Chunk>();  // (grown by the first records: no memory for a few)
}

void PipelinedProducer::hand_over() {
  deliver();
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!thread_.joinable()) thread_ = quiet_thread([this] { appender(); });
    cv_.wait(lock, [&] { return queue_.size() < kMaxQueued || failure_; });
    if (!failure_) queue_.push_back(std::move(filling_));
  }
  cv_.notify_all();
  rethrow_failure();
}

void PipelinedProducer::wait_idle() {
  if (!thread_.joinable()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void PipelinedProducer::deliver() {
  if (!reported_.load(std::memory_order_acquire)) return;
  for (;;) {
    Report r;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (reports_.empty()) {
        reported_.store(false, std::memory_order_relaxed);
        return;
      }
      r = std::move(reports_.front());
      reports_.pop_front();
    }
    hook_(r.partition, r.result, r.batch);
  }
}

void PipelinedProducer::rethrow_failure() {
  std::exception_ptr failure;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failure = failure_;
  }
  if (!failure) return;
  deliver();  // what was durable before the failure still gets reported
  std::rethrow_exception(failure);
}

void PipelinedProducer::apply(Chunk& c) {
  const char* at = c.bytes.data();
  for (const Chunk::Record& r : c.records) {
    std::string_view key(at, r.key);
    std::string_view id(at += r.key, r.id);
    std::string_view headers(at += r.id, r.headers);
    std::string_view value(at += r.headers, r.value);
    at += r.value;
    inner_->add(r.partition, r.has_key ? &key : nullptr, r.has_id ? &id : nullptr, headers, value,
                r.seq);
  }
  evict(c.bytes.data(), c.bytes.size());
  evict(c.records.data(), c.records.size() * sizeof(Chunk::Record));
  c.clear();
}

void PipelinedProducer::appender() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    std::unique_ptr<Chunk> c = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    bool skip = failure_ != nullptr;  // invariant 4
    lock.unlock();
    std::exception_ptr error;
    try {
      if (!skip) apply(*c);
    } catch (...) {
      error = std::current_exception();
    }
    c->clear();
    lock.lock();
    if (error && !failure_) failure_ = error;
    spare_.push_back(std::move(c));
    busy_ = false;
    cv_.notify_all();
  }
}

bool PipelinedProducer::flush() {
  if (direct_) {
    bool matched = inner_->flush();
    deliver();
    return matched;
  }
  wait_idle();
  rethrow_failure();
  // The rest is applied in this thread: the appender has nothing left to overlap.
  if (filling_ && !filling_->records.empty()) {
    try {
      apply(*filling_);
    } catch (...) {
      filling_->clear();
      deliver();
      throw;
    }
  }
  if (sticky_bytes_ > 0) {  // the inner flush appends the sticky partition's batch
    sticky_ = (sticky_ + 1) % topic_.partitions;
    sticky_bytes_ = 0;
  }
  bool matched;
  try {
    matched = inner_->flush();
  } catch (...) {
    deliver();
    throw;
  }
  topic_ = inner_->topic();  // as created by the first write
  deliver();
  return matched;
}

void PipelinedProducer::salvage() noexcept {
  if (!direct_) {
    wait_idle();
    bool failed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      failed = failure_ != nullptr;
    }
    // What was read is appended, as by the inner producer's salvage (unless the
    // appender failed: then nothing more is).
    if (!failed && filling_) {
      try {
        apply(*filling_);
      } catch (const std::exception&) {
        // The inner producer reported what is durable and cut what is not; its
        // salvage() below finishes that. The caller reports the first failure.
      }
    }
    if (filling_) filling_->clear();
  }
  inner_->salvage();
  try {
    deliver();
  } catch (const std::exception&) {
    // (a hook that cannot write: the caller is already reporting a failure)
  }
}

uint64_t PipelinedProducer::pending() const {
  return inner_->pending() + (filling_ ? filling_->records.size() : 0);
}

}  // namespace pspf
