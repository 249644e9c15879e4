// Log: the one way the commands reach a log, so that no tool knows a path, a file, a
// lock or a server. This is the seam between "a log" and "where it lives": the local
// data directory (LocalLog, local_log.h) is one implementation; another (a Kafka
// cluster) implements the same calls, and the tools do not change beyond choosing
// which one to open.
//
// Topics, records (producers, readers, consumers), consumer groups and compaction are
// all reached through it. What an implementation cannot do (a local scan of
// partition files on a cluster, say) throws Error(usage) naming the command's
// alternative.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/append.h"
#include "pspf/batch.h"
#include "pspf/compact.h"
#include "pspf/group_state.h"
#include "pspf/latest.h"
#include "pspf/partition_scan.h"
#include "pspf/position.h"
#include "pspf/topic.h"
#include "pspf/types.h"

namespace pspf {

class Producer;
class TopicReader;
class Consumer;
struct ReadOptions;

class Log {
 public:
  virtual ~Log() = default;

  // --- Topics
  virtual std::optional<TopicConfig> find_topic(std::string_view name) const = 0;
  // Throws Error(not_found) with a hint.
  virtual TopicConfig topic(std::string_view name) const = 0;
  // Throws Error(exists) when a topic of that name exists.
  virtual TopicConfig create_topic(const TopicConfig& cfg) = 0;
  // The topic, created with `partitions` when missing (`created` says which). Two
  // processes racing to create it both end up using the one that won.
  TopicConfig open_or_create(std::string_view name, int32_t partitions, bool& created);
  virtual std::vector<std::string> list_topics() const = 0;
  virtual void delete_topic(std::string_view name) = 0;
  // Changes a topic's settings (topic.h alter_topic).
  virtual TopicConfig alter_topic(std::string_view name,
                                  const std::function<void(TopicConfig&)>& change) = 0;
  // How the topic's partitions disagree with its partition count.
  virtual PartitionDirs check_partition_dirs(const TopicConfig& t) const = 0;

  // --- Records
  // Says that the command will make a producer (pspf-produce), before it looks its
  // topic up: a backend may then answer with the client it will produce through.
  virtual void will_produce() {}
  // A producer for topic t (producer.h): records are durable per `sync` once
  // reported. batch_bytes: about how much is appended at once per partition.
  virtual std::unique_ptr<Producer> producer(const TopicConfig& t, SyncMode sync,
                                             size_t batch_bytes = 1 << 20) const = 0;
  // The producer of pspf-consume -g GROUP --exec --to: topic t receives the
  // command's output, and commit_input() commits the group's input offset with it
  // (producer.h). The local log's is producer(t, SyncMode::batch); Kafka's writes
  // both in one transaction.
  virtual std::unique_ptr<Producer> output_producer(const TopicConfig& t,
                                                    const std::string& group) const;
  // A reader of a range of topic t (topic_reader.h).
  virtual std::unique_ptr<TopicReader> read(const TopicConfig& t, ReadOptions options) const = 0;
  // A member of consumer group `group` reading topic t (consumer.h).
  virtual std::unique_ptr<Consumer> consume(const std::string& group, const TopicConfig& t,
                                            Position from, bool stop_at_start_end,
                                            bool commit = true) const = 0;
  // The key's current version (-1: no events), as of p's durable end, read without
  // waiting for a producer.
  virtual int64_t key_version(const TopicConfig& t, PartitionId p, std::string_view key) const = 0;
  // The latest record of each live key (latest.h).
  virtual void for_each_latest(
      const TopicConfig& t, const LatestOptions& o,
      const std::function<void(PartitionId, const RecordView&)>& fn) const = 0;
  // Reads every record of p and says what is damaged (partition_scan.h), and cuts
  // damage off after copying it to quarantine.
  virtual PartitionScan scan(const TopicConfig& t, PartitionId p, bool verify_indexes) const = 0;
  virtual PartitionScan repair(const TopicConfig& t, PartitionId p) const = 0;
  // Compacts t and applies its retention (compact.h).
  virtual TopicReport compact(const TopicConfig& t, const CompactOptions& o) const = 0;
  // The offsets p holds now. Throws Error(corrupt) on damage.
  virtual OffsetBounds offset_bounds(const TopicConfig& t, PartitionId p) const = 0;
  // The first offset whose append time is >= `time`, or `end` when every record (up
  // to `end`) is older. Append times never go backwards, so this is the offset a
  // consumer must restart from to see everything appended since `time`.
  virtual Offset offset_for_time(const TopicConfig& t, PartitionId p, Timestamp time,
                                 Offset end) const = 0;
  // The append time of the first record with an offset in [from, end), or nullopt
  // when there is none (from >= end, or only compaction gaps are left).
  virtual std::optional<Timestamp> append_time_from(const TopicConfig& t, PartitionId p,
                                                    Offset from, Offset end) const = 0;

  // --- Consumer groups
  // Names of the groups that have committed offsets or members, sorted.
  virtual std::vector<std::string> list_groups() const = 0;
  // The calls below throw Error(usage) for a bad group name.
  // Whether the group has committed offsets or members.
  virtual bool group_exists(std::string_view group) const = 0;
  // The group's committed offset (and announced batch) of every topic-partition.
  virtual std::map<TopicPartition, Committed> committed_offsets(std::string_view group) const = 0;
  // Sets offsets administratively (pspf-offsets reset/commit), all or none, durable
  // on return; a member still holding a partition can no longer commit for it.
  // `who` names the administrator in the record.
  virtual void set_offsets(std::string_view group,
                           const std::vector<std::pair<TopicPartition, Offset>>& offsets,
                           const std::string& who) const = 0;
  // Removes the group's committed offsets.
  virtual void delete_group(std::string_view group) const = 0;
  // Live members of the group now (0 when none, or no such group).
  virtual int live_members(std::string_view group) const = 0;
  // The live owner of each partition of `t` in `group` (partitions without one are
  // absent). Takes no lock a member would wait for.
  virtual std::map<int32_t, OwnerInfo> partition_owners(std::string_view group,
                                                        const TopicConfig& t) const = 0;

  // "topic T partition P", the way every message names a partition.
  static std::string label(const TopicConfig& t, PartitionId p);
};

// The local log in data directory `dir` (LocalLog).
std::unique_ptr<Log> open_local_log(std::string dir);

}  // namespace pspf
