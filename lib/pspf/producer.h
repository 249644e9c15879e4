// Producer: appends records to a topic (Log::producer). It routes records to
// partitions and appends them in batches; a record counts as written, and the append
// hook hears of it, only once it is durable (the local log: per the sync mode; see
// LocalProducer). On any failure, what was made durable is still reported to the hook
// before the error is thrown.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/append.h"
#include "pspf/batch.h"
#include "pspf/topic.h"
#include "pspf/types.h"

namespace pspf {

class Consumer;

// What Producer::commit_input did.
struct InputCommit {
  enum Outcome {
    committed,   // the events are written and the input offset is committed
    taken_over,  // the input partition has another owner now: the offset is not
                 // committed (and on Kafka the events are not written either)
    aborted,     // neither is done (a Kafka transaction was aborted): the batch
                 // may be processed again
  };
  Outcome outcome = committed;
  std::string why;  // for `aborted`: what the cluster said
};

// For Producer::create_on_first_write: calls `create` once (and forgets it), and
// returns the topic it made, or throws Error(exists) when that topic has another
// partition count than `routed`, the one records were already routed by.
TopicConfig create_routed_topic(std::function<TopicConfig()>& create, const TopicConfig& routed);

// Producer::route() for a record with a key or an id, or of a resumable import
// (`resumable` and seq > 0); nullopt: the producer's sticky partition takes it.
std::optional<PartitionId> route_fixed(const std::string_view* key, const std::string_view* id,
                                       uint64_t seq, bool resumable, int32_t partitions);

class Producer {
 public:
  // Called after each append with the partition, what the append did, and the
  // batch as it was queued (its header readable with decode_batch_header, its records
  // with RecordIterator; duplicates included, see AppendResult::duplicate_of). The
  // records are durable per the sync mode.
  using AppendHook = std::function<void(PartitionId, const AppendResult&, std::string_view batch)>;

  virtual ~Producer() = default;

  virtual void on_append(AppendHook hook) = 0;
  // A topic that does not exist yet: `create` is called once, before the first
  // partition is opened, and returns the topic as it is on disk (perhaps created by
  // another process first). So input refused before anything is appended creates
  // nothing. Throws Error(exists) when that topic has another partition count
  // than the one records were routed by.
  virtual void create_on_first_write(std::function<TopicConfig()> create) = 0;
  // Resumable import: every batch carries a producer mark with this id and the
  // sequence number of its last record (see add()).
  virtual void set_producer_id(std::string id) = 0;
  // Optimistic concurrency: everything queued is appended as one batch at flush(),
  // only if the key's version matches (all records must have the same key).
  virtual void expect_version(ExpectVersion e) = 0;
  // A hint: about `records` records with ids are coming, spread over the
  // partitions, so each id index is sized once rather than grown step by step.
  virtual void expect_ids(uint64_t records) = 0;

  // The partition for a record: Kafka's murmur2 of the key; without a key but with
  // an id, the same function of the id, so that a re-run (another process) sends
  // the id where its earlier copy is and deduplication meets it; with neither, the
  // current sticky partition (it moves to the next one each time a keyless batch is
  // appended, so keyless records spread evenly), except in a resumable import
  // (set_producer_id, seq > 0): there runs of kResumeSpread records by input
  // position, the same in every run. key/id may be null.
  virtual PartitionId route(const std::string_view* key, const std::string_view* id,
                            uint64_t seq = 0) = 0;
  // Records of a resumable import without key or id go in runs of this many.
  static constexpr uint64_t kResumeSpread = 4096;

  // Resumable import: true when an earlier run with this producer id appended the
  // record with input sequence number `seq` (routed to p) already.
  virtual bool appended_before(PartitionId p, uint64_t seq) = 0;

  // Why add() would refuse this record for partition p, or nullopt when it would
  // not: the record cannot fit in a batch even alone (kMaxBatchBytes, header and
  // producer mark included), or with expect_version() the one batch would grow
  // past that limit. Callers check first to name the input in their message.
  virtual std::optional<std::string> oversized(PartitionId p, const std::string_view* key,
                                               const std::string_view* id, std::string_view headers,
                                               size_t value_size, uint64_t seq = 0) const = 0;

  // Queues a record for partition p (appending its batch first when full, or when
  // the record would push it past kMaxBatchBytes). key/id may be null; headers is a
  // MessagePack map or empty; value one MessagePack value. `seq` is the record's
  // input sequence number, for the producer mark. Throws Error(invalid_input), and
  // queues and appends nothing, when oversized() says why.
  virtual void add(PartitionId p, const std::string_view* key, const std::string_view* id,
                   std::string_view headers, std::string_view value, uint64_t seq = 0) = 0;

  // The creation time of the record the next add() queues, on a log that keeps the
  // producer's time (Kafka's CreateTime: pspf-produce -J moving a topic keeps its
  // times). The local log stamps every record with its append time and ignores it.
  virtual void timestamp_next(Timestamp) {}
  // The JSON text the next add()'s value was converted from (a whole input line),
  // for a log that stores values as JSON text (Kafka): it sends the text as it is
  // instead of converting the MessagePack back. The local log ignores it.
  virtual void value_text_next(std::string_view) {}

  // The highest sequence number the producer id has appended to partition p.
  virtual uint64_t producer_seq(PartitionId p) = 0;

  // Appends every queued record. With expect_version(), returns false (and appends
  // nothing) when the version did not match; conflict_version() says what it was.
  virtual bool flush() = 0;

  // For pspf-consume --exec --to: writes the queued records, then commits `next` for
  // partition p of the group member `input` (Consumer::commit). On the local log
  // these are two steps, made exactly once by the records' derived ids
  // (TransformOutput); a Kafka producer made by Log::output_producer makes them one
  // transaction. Throws Error when the output cannot be written at all.
  virtual InputCommit commit_input(Consumer& input, PartitionId p, Offset next);

  // After a failure outside the producer (input that cannot be read): appends what
  // is queued (unless an expected version makes the input all or nothing) and syncs
  // it, so that everything durable is reported; never throws.
  virtual void salvage() noexcept = 0;

  virtual uint64_t appended() const = 0;
  // How many partitions received reported records.
  virtual int32_t partitions_appended() const = 0;
  // Records left out because their id was already in the partition.
  virtual uint64_t duplicates() const = 0;
  virtual int64_t conflict_version() const = 0;
  virtual uint64_t pending() const = 0;
  // Bytes of torn batches left by dead writers and cut off by this producer, and the
  // quarantine files they were moved to first.
  virtual uint64_t truncated_bytes() const = 0;
  virtual std::vector<std::string> quarantined() const = 0;
  virtual const TopicConfig& topic() const = 0;
};

}  // namespace pspf
