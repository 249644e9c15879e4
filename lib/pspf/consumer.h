// Consumer: one member of a consumer group reading a topic. It joins the group
// (GroupMember), takes partitions up to its fair share, starts each from the group's
// committed offset (or from `from` when the group has none for it), hands out
// records partition by partition in offset order, and commits offsets with the epoch
// it claimed, so a member that lost a partition can never move its offset.
//
// It hands out only records below each partition's durable end (durable_end.h), so
// nothing is processed or committed that a power loss could still take away. A
// committed offset past the log end (records lost after they were consumed) is
// reported through the warning sink and restarts the partition at the log end.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pspf/batch.h"
#include "pspf/group_member.h"
#include "pspf/group_offsets.h"
#include "pspf/log.h"
#include "pspf/position.h"

namespace pspf {

class Consumer {
 public:
  // With `stop_at_start_end`, each partition ends at the log end as it was when the
  // consumer started (pspf-consume -e). Without `commit`, nothing is ever committed
  // (pspf-consume --no-commit): commit() only checks nothing and returns true.
  Consumer(const Log& log, const std::string& group, TopicConfig topic, Position from,
           bool stop_at_start_end, bool commit = true);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Where warnings go (a committed offset past the log end); stderr by default.
  void on_warning(std::function<void(const std::string&)> sink) { warn_ = std::move(sink); }

  // Rebalances (see GroupMember). Partitions for which busy(p) is true are kept.
  // Returns the partitions gained and released.
  GroupMember::Change rebalance(const std::function<bool(PartitionId)>& busy);
  // Partitions an administrator reset (pspf-offsets --force) since we claimed them
  // are claimed again, from the new offset, unless busy(p): then p's next commit is
  // refused and p released (it comes back at a rebalance).
  void follow_resets(const std::function<bool(PartitionId)>& busy);
  std::vector<PartitionId> owned() const { return member_->owned(); }
  const std::string& member_id() const { return member_->id(); }

  // Hands up to `max` records of partition p, from its read position on, to `fn`
  // (views valid during the call) and moves the read position past them. Returns how
  // many. Throws Error(corrupt) on damage.
  size_t poll(PartitionId p, size_t max, const std::function<void(const RecordView&)>& fn);
  // The next offset to read, and the offset committed for p.
  Offset position(PartitionId p) const;
  Offset committed(PartitionId p) const;
  // Sets the read position back to `to` (a failed batch to hand out again).
  void rewind(PartitionId p, Offset to);
  // Commits `next` (one past the last record processed) for p, durably. Returns false
  // when another member or an administrator has taken p over since we claimed it:
  // then p is released and nothing is written.
  bool commit(PartitionId p, Offset next);
  // The last offset of a batch announced (by this or an earlier member) and not yet
  // committed: the next batch of p must be exactly [committed, that offset].
  std::optional<Offset> announced(PartitionId p) const;
  // Announces the batch [committed, last] of p before processing it. Returns false
  // (and releases p) when p was taken over.
  bool announce(PartitionId p, Offset last);
  // Releases p (after committing what was processed).
  void release(PartitionId p);

  // With stop_at_start_end: true when p's read position reached its end bound.
  bool at_end(PartitionId p) const;
  // True when every owned partition has reached its end bound and every other one
  // has a committed offset at it (nothing left anywhere for this run of -e). Without
  // commits, partitions owned by live members count as done.
  bool finished();
  // Partition directories to watch for new data.
  std::vector<std::string> watch_dirs() const;
  const TopicConfig& topic() const { return topic_; }

 private:
  struct Part;
  Part& part(PartitionId p);
  const Part& part(PartitionId p) const;
  // Claims p (owned by member_) and starts it at the group's committed offset, or
  // where --from says; releases it if that start cannot be committed.
  void take(PartitionId p);
  // The end below which p's records may be handed out now: the published durable
  // end, settled (durable_end.h) when the read position has reached it.
  Offset durable_end(PartitionId p, Part& s);

  const Log& log_;  // borrowed: outlives the consumer
  TopicConfig topic_;
  Position from_;
  std::unique_ptr<GroupOffsets> offsets_;
  std::unique_ptr<GroupMember> member_;
  std::map<int32_t, std::unique_ptr<Part>> parts_;
  std::vector<Offset> start_ends_;                    // per partition, when stop_at_start_end
  std::pair<uint64_t, uint64_t> offsets_seen_{0, 0};  // commit file (inode, size) last read
  bool stop_at_start_end_;
  bool commit_;
  std::function<void(const std::string&)> warn_;
};

}  // namespace pspf
