// PipelinedProducer: a local-log producer whose appends run in a second thread, so
// that a bulk import uses both cores: the caller's thread reads and converts its
// input, the appender thread packs the records into batches, looks their ids up,
// checksums, writes and syncs them (LocalProducer, unchanged).
//
// Invariants:
//   1. The inner producer is used by one thread at a time: the appender while it has
//      work, the caller's thread only once the appender is idle (queue empty, nothing
//      being applied). So the inner producer, and the crash protocol it keeps, are
//      exactly those of a producer used from one thread.
//   2. add() copies the record into a chunk; a full chunk is handed to the appender,
//      which gives its records to the inner add() in the order they were added. At most
//      kMaxQueued chunks wait: a slow disk slows the reader, memory stays flat.
//   3. The append hook hears of records only in the caller's thread, only once the
//      inner producer reported them (durable per the sync mode), and in the inner
//      producer's order: the reports wait in a queue until the caller's next add(),
//      flush() or salvage().
//   4. After the appender fails, it applies nothing more; the caller's next add() or
//      flush() reports what is durable and throws the appender's error.
//   5. The thread starts with the first full chunk: a run of a few records (one
//      process per event) never starts it, and flush() applies what is left in the
//      caller's thread.
//   6. A chunk the appender has applied goes back to the caller evicted from the
//      caches, so that refilling it does not wait on the appender's core (see
//      evict() in the .cpp for the figures).
// Routing (key, id, resumable position, sticky partition) is done here, without the
// inner producer, as Producer::route() says. With expect_version() everything is
// passed straight through: that one batch is appended at flush() anyway.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pspf/producer.h"

namespace pspf {

class PipelinedProducer final : public Producer {
 public:
  // `inner`: a LocalProducer made with `batch_bytes` (its sticky partition moves when
  // a batch of it is full; this one's moves with it). It ignores timestamp_next() and
  // value_text_next(), so they are not carried to the appender. Its append hook is
  // set through on_append() here. `chunk_bytes`: about how much add() copies before
  // handing it over.
  explicit PipelinedProducer(std::unique_ptr<Producer> inner, size_t chunk_bytes = 1 << 19,
                             size_t batch_bytes = 1 << 20);
  // Stops the appender; records not yet flushed are dropped, as by the inner producer.
  ~PipelinedProducer() override;
  PipelinedProducer(const PipelinedProducer&) = delete;
  PipelinedProducer& operator=(const PipelinedProducer&) = delete;

  // How many chunks may wait for the appender before add() waits.
  static constexpr size_t kMaxQueued = 2;

  void on_append(AppendHook hook) override;
  void create_on_first_write(std::function<TopicConfig()> create) override;
  void set_producer_id(std::string id) override;
  void expect_version(ExpectVersion e) override;
  void expect_ids(uint64_t records) override;
  PartitionId route(const std::string_view* key, const std::string_view* id,
                    uint64_t seq = 0) override;
  bool appended_before(PartitionId p, uint64_t seq) override;
  std::optional<std::string> oversized(PartitionId p, const std::string_view* key,
                                       const std::string_view* id, std::string_view headers,
                                       size_t value_size, uint64_t seq = 0) const override;
  void add(PartitionId p, const std::string_view* key, const std::string_view* id,
           std::string_view headers, std::string_view value, uint64_t seq = 0) override;
  uint64_t producer_seq(PartitionId p) override;
  bool flush() override;
  void salvage() noexcept override;
  // These read the inner producer: call them when it is idle (after flush() or
  // salvage()), as pspf-produce does.
  uint64_t appended() const override { return inner_->appended(); }
  int32_t partitions_appended() const override { return inner_->partitions_appended(); }
  uint64_t duplicates() const override { return inner_->duplicates(); }
  int64_t conflict_version() const override { return inner_->conflict_version(); }
  uint64_t pending() const override;
  uint64_t truncated_bytes() const override { return inner_->truncated_bytes(); }
  std::vector<std::string> quarantined() const override { return inner_->quarantined(); }
  const TopicConfig& topic() const override { return topic_; }

 private:
  struct Chunk;
  struct Report;
  std::unique_ptr<Chunk> take_chunk();
  // Queues the chunk being filled for the appender (starting it if need be), after
  // delivering reports; throws the appender's error.
  void hand_over();
  // Waits until the appender has applied everything queued: the inner producer is
  // then the caller's to use (invariant 1).
  void wait_idle();
  // Calls the hook for the reports queued so far (invariant 3).
  void deliver();
  void rethrow_failure();
  void apply(Chunk& c);
  void appender();

  std::unique_ptr<Producer> inner_;
  TopicConfig topic_;
  size_t chunk_bytes_;
  size_t batch_bytes_;
  bool direct_ = false;  // expect_version(): everything passed straight through
  std::string producer_id_;
  int32_t sticky_;
  size_t sticky_bytes_ = 0;  // keyless bytes routed to sticky_ since it moved
  std::vector<std::optional<uint64_t>> resume_from_;
  AppendHook hook_;
  std::unique_ptr<Chunk> filling_;  // the caller's; handed over when full

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Chunk>> queue_;  // handed over, not yet applied
  std::vector<std::unique_ptr<Chunk>> spare_;
  bool busy_ = false;  // the appender is applying a chunk
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::deque<Report> reports_;
  std::atomic<bool> reported_{false};  // reports_ is not empty
  std::thread thread_;
};

}  // namespace pspf
