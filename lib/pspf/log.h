// Log: the one entry point the commands use to reach a log, so that no tool knows a
// path, a file or a lock. This is the seam between "a log" and "where it lives"; the
// local data directory is the implementation today. Topics, partitions and consumer
// groups are all reached through it: no tool builds a path from dir().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/group_member.h"
#include "pspf/group_offsets.h"
#include "pspf/partition.h"
#include "pspf/partition_scan.h"
#include "pspf/topic.h"
#include "pspf/types.h"

namespace pspf {

class Log {
 public:
  // `dir` is the data directory (it need not exist until something is created).
  explicit Log(std::string dir);

  // The data directory, for the local log's own modules (consumer, topic reader,
  // compaction); tools reach everything through the calls below.
  const std::string& dir() const { return dir_; }

  std::optional<TopicConfig> find_topic(std::string_view name) const;
  // Throws Error(not_found) with a hint.
  TopicConfig topic(std::string_view name) const;
  TopicConfig create_topic(const TopicConfig& cfg);
  // The topic, created with `partitions` when missing (`created` says which). Two
  // processes racing to create it both end up using the one that won.
  TopicConfig open_or_create(std::string_view name, int32_t partitions, bool& created);
  std::vector<std::string> list_topics() const;
  void delete_topic(std::string_view name);
  // Changes a topic's settings (topic.h alter_topic).
  TopicConfig alter_topic(std::string_view name, const std::function<void(TopicConfig&)>& change);
  // How the topic's partition directories disagree with its partition count.
  PartitionDirs check_partition_dirs(const TopicConfig& t) const;

  std::unique_ptr<PartitionWriter> writer(const TopicConfig& t, PartitionId p) const;
  std::unique_ptr<PartitionReader> reader(const TopicConfig& t, PartitionId p) const;
  // The key's current version (-1: no events), as of p's durable end, read without
  // the partition lock: a producer holding it is not waited for.
  int64_t key_version(const TopicConfig& t, PartitionId p, std::string_view key) const;
  PartitionScan scan(const TopicConfig& t, PartitionId p, bool verify_indexes) const;
  PartitionScan repair(const TopicConfig& t, PartitionId p) const;

  // --- Consumer groups
  // Names of the groups that have committed offsets or members, sorted.
  std::vector<std::string> list_groups() const;
  // The group's committed offsets and announces (created by the first write).
  // Throws Error(usage) for a bad group name.
  std::unique_ptr<GroupOffsets> group_offsets(std::string_view group) const;
  // Joins `group` as a member for topic `t` (GroupMember).
  std::unique_ptr<GroupMember> join_group(std::string_view group, const TopicConfig& t) const;
  // Live members of the group now (0 when none, or no such group).
  int live_members(std::string_view group) const;
  // The live owner of each partition of `t` in `group` (partitions without one are
  // absent). Takes no lock a member would wait for.
  std::map<int32_t, OwnerInfo> partition_owners(std::string_view group, const TopicConfig& t) const;

  // "topic T partition P", the way every message names a partition.
  static std::string label(const TopicConfig& t, PartitionId p);

 private:
  std::string dir_;
};

}  // namespace pspf
