// LocalProducer: the local log's Producer. It appends batches of about batch_bytes per
// partition. Records wait in memory only until their partition's batch is full,
// flush() is called, or (SyncMode::always) at once. With SyncMode::batch the fdatasync
// of a batch is deferred a little (writeback starts at once) so that parsing the next
// batches overlaps the disk; a record counts as written, and the append hook hears of
// it, only once its batch is synced. Until then the producer holds the partition's
// lock (pspf/durable_end.h); it never waits for a lock while holding one, so two
// producers cannot deadlock. On any failure, what was synced is still reported to the
// hook before the error is thrown.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "pspf/batch.h"
#include "pspf/local_log.h"
#include "pspf/partition.h"
#include "pspf/producer.h"

namespace pspf {

class LocalProducer final : public Producer {
 public:
  LocalProducer(const LocalLog& log, TopicConfig topic, SyncMode sync,
                size_t batch_bytes = 1 << 20);
  ~LocalProducer() override;
  LocalProducer(const LocalProducer&) = delete;
  LocalProducer& operator=(const LocalProducer&) = delete;

  void on_append(AppendHook hook) override { hook_ = std::move(hook); }
  void create_on_first_write(std::function<TopicConfig()> create) override {
    create_ = std::move(create);
  }
  void set_producer_id(std::string id) override { producer_id_ = std::move(id); }
  void expect_version(ExpectVersion e) override { expect_ = e; }
  void expect_ids(uint64_t records) override { expected_ids_ = records; }
  PartitionId route(const std::string_view* key, const std::string_view* id,
                    uint64_t seq = 0) override;
  bool appended_before(PartitionId p, uint64_t seq) override;
  std::optional<std::string> oversized(PartitionId p, const std::string_view* key,
                                       const std::string_view* id, std::string_view headers,
                                       size_t value_size, uint64_t seq = 0) const override;
  // oversized() without an expected version: the record cannot fit in a batch even
  // alone, with the mark of `producer_id` (empty: none). It reads no state.
  static std::optional<std::string> too_big_alone(const std::string& producer_id,
                                                  const std::string_view* key,
                                                  const std::string_view* id,
                                                  std::string_view headers, size_t value_size,
                                                  uint64_t seq);
  void add(PartitionId p, const std::string_view* key, const std::string_view* id,
           std::string_view headers, std::string_view value, uint64_t seq = 0) override;
  uint64_t producer_seq(PartitionId p) override;
  bool flush() override;
  void salvage() noexcept override;
  uint64_t appended() const override { return appended_; }
  int32_t partitions_appended() const override;
  uint64_t duplicates() const override { return duplicates_; }
  int64_t conflict_version() const override { return conflict_version_; }
  uint64_t pending() const override { return pending_; }
  uint64_t truncated_bytes() const override;
  std::vector<std::string> quarantined() const override;
  const TopicConfig& topic() const override { return topic_; }

 private:
  struct Slot;
  struct Unsynced;
  struct Job;
  void flush_slot(PartitionId p);
  PartitionWriter& writer_for(Slot& slot, PartitionId p);
  // Hands the files written since the last call to the sync thread; with `last`
  // (nothing more follows) and no thread started yet, syncs them in this one.
  void start_sync(bool last = false);
  // Syncs one job's files and counts it done (or failed).
  void run_sync_job(std::vector<std::pair<std::string, Fd>>& files);
  // Reports the appends whose sync has completed, publishing their durable ends
  // (and so releasing partition locks); with `all`, waits for every one. After a
  // failed sync, cuts everything not yet synced and throws.
  void report_synced(bool all);
  // Syncs and reports everything appended so far: no partition lock stays held.
  void drain();
  // After a failure: reports what is durable, and cuts what is not.
  void drain_after_failure() noexcept;
  void sync_thread();

  const LocalLog& log_;  // borrowed: outlives the producer
  TopicConfig topic_;
  SyncMode sync_;
  size_t batch_bytes_;
  std::vector<std::unique_ptr<Slot>> slots_;
  AppendHook hook_;
  std::function<TopicConfig()> create_;
  // With SyncMode::batch, appends whose sync is deferred: every kSyncAheadBytes the
  // files written are handed to a thread that fdatasyncs them while this one goes on
  // parsing; an append is counted and reported once the sync that covers it is done.
  std::deque<Unsynced> unsynced_;
  size_t unsynced_bytes_ = 0;
  uint64_t sync_requested_ = 0;  // sync jobs handed over so far
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::vector<std::pair<std::string, Fd>>> jobs_;
  // Per job handed over and not yet reported: the partitions it makes durable and
  // to where (only this thread touches it).
  std::deque<std::vector<std::pair<PartitionId, PartitionWriter::SyncPoint>>> points_;
  uint64_t sync_done_ = 0;      // jobs completed (guarded by mutex_)
  uint64_t sync_reported_ = 0;  // jobs whose points were published
  uint64_t failed_job_ = 0;     // the first job whose sync failed (0: none)
  std::exception_ptr sync_error_;
  bool stopping_ = false;
  std::thread syncer_;
  int32_t sticky_;
  std::string producer_id_;
  std::optional<ExpectVersion> expect_;
  uint64_t expected_ids_ = 0;
  bool conflict_ = false;
  int64_t conflict_version_ = -1;
  uint64_t duplicates_ = 0;
  uint64_t appended_ = 0;
  uint64_t pending_ = 0;
  size_t pending_bytes_ = 0;
};

}  // namespace pspf
