// LocalLog: the log in a data directory on this machine (pspf-log(5)), the default
// implementation of Log. Beyond Log's calls it hands out the partition writers and
// readers its own modules (producer, readers, consumer, compaction) are built on;
// tools never see them.
#pragma once

#include <memory>
#include <string>

#include "pspf/group_member.h"
#include "pspf/group_offsets.h"
#include "pspf/log.h"
#include "pspf/partition.h"

namespace pspf {

class LocalLog final : public Log {
 public:
  // `dir` is the data directory (it need not exist until something is created).
  explicit LocalLog(std::string dir);

  // The data directory, for the local log's own modules (paths.h builds on it).
  const std::string& dir() const { return dir_; }

  std::optional<TopicConfig> find_topic(std::string_view name) const override;
  TopicConfig topic(std::string_view name) const override;
  TopicConfig create_topic(const TopicConfig& cfg) override;
  std::vector<std::string> list_topics() const override;
  void delete_topic(std::string_view name) override;
  TopicConfig alter_topic(std::string_view name,
                          const std::function<void(TopicConfig&)>& change) override;
  PartitionDirs check_partition_dirs(const TopicConfig& t) const override;

  std::unique_ptr<Producer> producer(const TopicConfig& t, SyncMode sync,
                                     size_t batch_bytes = 1 << 20) const override;
  std::unique_ptr<TopicReader> read(const TopicConfig& t, ReadOptions options) const override;
  std::unique_ptr<Consumer> consume(const std::string& group, const TopicConfig& t, Position from,
                                    bool stop_at_start_end, bool commit = true) const override;
  // Read without the partition lock: a producer holding it is not waited for.
  int64_t key_version(const TopicConfig& t, PartitionId p, std::string_view key) const override;
  void for_each_latest(
      const TopicConfig& t, const LatestOptions& o,
      const std::function<void(PartitionId, const RecordView&)>& fn) const override;
  PartitionScan scan(const TopicConfig& t, PartitionId p, bool verify_indexes) const override;
  PartitionScan repair(const TopicConfig& t, PartitionId p) const override;
  TopicReport compact(const TopicConfig& t, const CompactOptions& o) const override;
  OffsetBounds offset_bounds(const TopicConfig& t, PartitionId p) const override;
  Offset offset_for_time(const TopicConfig& t, PartitionId p, Timestamp time,
                         Offset end) const override;
  std::optional<Timestamp> append_time_from(const TopicConfig& t, PartitionId p, Offset from,
                                            Offset end) const override;

  std::vector<std::string> list_groups() const override;
  bool group_exists(std::string_view group) const override;
  std::map<TopicPartition, Committed> committed_offsets(std::string_view group) const override;
  void set_offsets(std::string_view group,
                   const std::vector<std::pair<TopicPartition, Offset>>& offsets,
                   const std::string& who) const override;
  void delete_group(std::string_view group) const override;
  int live_members(std::string_view group) const override;
  std::map<int32_t, OwnerInfo> partition_owners(std::string_view group,
                                                const TopicConfig& t) const override;

  // --- The local modules' own access
  std::unique_ptr<PartitionWriter> writer(const TopicConfig& t, PartitionId p) const;
  std::unique_ptr<PartitionReader> reader(const TopicConfig& t, PartitionId p) const;
  // The group's offsets file (GroupOffsets).
  std::unique_ptr<GroupOffsets> group_offsets(std::string_view group) const;
  // Joins `group` as a member for topic `t` (GroupMember).
  std::unique_ptr<GroupMember> join_group(std::string_view group, const TopicConfig& t) const;

 private:
  std::string dir_;
};

}  // namespace pspf
