// Producer: routes records to partitions and appends them in batches of about
// batch_bytes per partition. Records wait in memory only until their partition's
// batch is full, flush() is called, or (SyncMode::always) at once. With
// SyncMode::batch the fdatasync of a batch is deferred a little (writeback starts at
// once) so that parsing the next batches overlaps the disk; a record counts as
// written, and the append hook hears of it, only once its batch is synced. Until
// then the producer holds the partition's lock (pspf/durable_end.h); it never waits
// for a lock while holding one, so two producers cannot deadlock. On any failure,
// what was synced is still reported to the hook before the error is thrown.
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
#include "pspf/log.h"
#include "pspf/partition.h"

namespace pspf {

class Producer {
 public:
  // Called after each append with the partition, what the append did, and the
  // batch as it was queued (its header readable with decode_batch_header, its records
  // with RecordIterator; duplicates included, see AppendResult::duplicate_of). The
  // records are durable per the sync mode.
  using AppendHook = std::function<void(PartitionId, const AppendResult&, std::string_view batch)>;

  Producer(const Log& log, TopicConfig topic, SyncMode sync, size_t batch_bytes = 1 << 20);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  void on_append(AppendHook hook) { hook_ = std::move(hook); }
  // A topic that does not exist yet: `create` is called once, before the first
  // partition is opened, and returns the topic as it is on disk (perhaps created by
  // another process first). So input refused before anything is appended creates
  // nothing. Throws Error(exists) when that topic has another partition count
  // than the one records were routed by.
  void create_on_first_write(std::function<TopicConfig()> create) { create_ = std::move(create); }
  // Resumable import: every batch carries a producer mark with this id and the
  // sequence number of its last record (see add()).
  void set_producer_id(std::string id) { producer_id_ = std::move(id); }
  // Optimistic concurrency: everything queued is appended as one batch at flush(),
  // only if the key's version matches (all records must have the same key).
  void expect_version(ExpectVersion e) { expect_ = e; }
  // A hint: about `records` records with ids are coming, spread over the
  // partitions, so each id index is sized once rather than grown step by step.
  void expect_ids(uint64_t records) { expected_ids_ = records; }

  // The partition for a record: Kafka's murmur2 of the key; without a key but with
  // an id, the same function of the id, so that a re-run (another process) sends
  // the id where its earlier copy is and deduplication meets it; with neither, the
  // current sticky partition (it moves to the next one each time a keyless batch is
  // appended, so keyless records spread evenly), except in a resumable import
  // (set_producer_id, seq > 0): there runs of kResumeSpread records by input
  // position, the same in every run. key/id may be null.
  PartitionId route(const std::string_view* key, const std::string_view* id, uint64_t seq = 0);
  static constexpr uint64_t kResumeSpread = 4096;

  // Resumable import: true when an earlier run with this producer id appended the
  // record with input sequence number `seq` (routed to p) already.
  bool appended_before(PartitionId p, uint64_t seq);

  // Why add() would refuse this record for partition p, or nullopt when it would
  // not: the record cannot fit in a batch even alone (kMaxBatchBytes, header and
  // producer mark included), or with expect_version() the one batch would grow
  // past that limit. Callers check first to name the input in their message.
  std::optional<std::string> oversized(PartitionId p, const std::string_view* key,
                                       const std::string_view* id, std::string_view headers,
                                       size_t value_size, uint64_t seq = 0) const;

  // Queues a record for partition p (appending its batch first when full, or when
  // the record would push it past kMaxBatchBytes). key/id may be null; headers is a
  // MessagePack map or empty; value one MessagePack value. `seq` is the record's
  // input sequence number, for the producer mark. Throws Error(invalid_input), and
  // queues and appends nothing, when oversized() says why.
  void add(PartitionId p, const std::string_view* key, const std::string_view* id,
           std::string_view headers, std::string_view value, uint64_t seq = 0);

  // The highest sequence number the producer id has appended to partition p.
  uint64_t producer_seq(PartitionId p);

  // Appends every queued record. With expect_version(), returns false (and appends
  // nothing) when the version did not match; conflict_version() says what it was.
  bool flush();

  // After a failure outside the producer (input that cannot be read): appends what
  // is queued (unless an expected version makes the input all or nothing) and syncs
  // it, so that everything durable is reported; never throws.
  void salvage() noexcept;

  uint64_t appended() const { return appended_; }
  // How many partitions received reported records.
  int32_t partitions_appended() const;
  // Records left out because their id was already in the partition.
  uint64_t duplicates() const { return duplicates_; }
  int64_t conflict_version() const { return conflict_version_; }
  uint64_t pending() const { return pending_; }
  // Bytes of torn batches left by dead writers and cut off by this producer, and the
  // quarantine files they were moved to first.
  uint64_t truncated_bytes() const;
  std::vector<std::string> quarantined() const;
  const TopicConfig& topic() const { return topic_; }

 private:
  struct Slot;
  struct Unsynced;
  struct Job;
  void flush_slot(PartitionId p);
  PartitionWriter& writer_for(Slot& slot, PartitionId p);
  // Hands the files written since the last call to the sync thread.
  void start_sync();
  // Reports the appends whose sync has completed, publishing their durable ends
  // (and so releasing partition locks); with `all`, waits for every one. After a
  // failed sync, cuts everything not yet synced and throws.
  void report_synced(bool all);
  // Syncs and reports everything appended so far: no partition lock stays held.
  void drain();
  // After a failure: reports what is durable, and cuts what is not.
  void drain_after_failure() noexcept;
  void sync_thread();

  const Log& log_;  // borrowed: outlives the producer
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
