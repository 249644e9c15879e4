// Consumer: one member of a consumer group reading a topic (Log::consume). It joins
// the group, takes partitions up to its fair share, starts each from the group's
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
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pspf/batch.h"
#include "pspf/group_state.h"
#include "pspf/topic.h"

namespace pspf {

class Consumer {
 public:
  virtual ~Consumer() = default;

  // Where warnings go (a committed offset past the log end); stderr by default.
  virtual void on_warning(std::function<void(const std::string&)> sink) = 0;

  // Rebalances (see GroupMember). Partitions for which busy(p) is true are kept.
  // Returns the partitions gained and released.
  virtual RebalanceChange rebalance(const std::function<bool(PartitionId)>& busy) = 0;
  // Partitions an administrator reset (pspf-offsets --force) since we claimed them
  // are claimed again, from the new offset, unless busy(p): then p's next commit is
  // refused and p released (it comes back at a rebalance).
  virtual void follow_resets(const std::function<bool(PartitionId)>& busy) = 0;
  virtual std::vector<PartitionId> owned() const = 0;
  virtual const std::string& member_id() const = 0;

  // Hands up to `max` records of partition p, from its read position on, to `fn`
  // (views valid during the call) and moves the read position past them. Returns how
  // many. Throws Error(corrupt) on damage.
  virtual size_t poll(PartitionId p, size_t max,
                      const std::function<void(const RecordView&)>& fn) = 0;
  // Hands the records of p below `until` (from the read position on) to `fn`, as
  // poll() does, for the batch announced for p (announced()). Once none below `until`
  // is left (compaction may have removed the last ones, or all), the read position
  // moves to `until`: position(p) >= until says the batch is whole. Consumers that
  // announce no batches throw.
  virtual size_t poll_until(PartitionId p, Offset until,
                            const std::function<void(const RecordView&)>& fn);
  // The next offset to read, and the offset committed for p.
  virtual Offset position(PartitionId p) const = 0;
  virtual Offset committed(PartitionId p) const = 0;
  // Sets the read position back to `to` (a failed batch to hand out again).
  virtual void rewind(PartitionId p, Offset to) = 0;
  // Commits `next` (one past the last record processed) for p, durably. Returns false
  // when another member or an administrator has taken p over since we claimed it:
  // then p is released and nothing is written.
  virtual bool commit(PartitionId p, Offset next) = 0;
  // commit() for several partitions at once; returns those refused (released, as
  // there). The local log writes them as one record with one sync; by default each
  // is committed in turn.
  virtual std::vector<PartitionId> commit_all(
      const std::vector<std::pair<PartitionId, Offset>>& next);
  // The last offset of a batch announced (by this or an earlier member) and not yet
  // committed: the next batch of p must be exactly [committed, that offset].
  virtual std::optional<Offset> announced(PartitionId p) const = 0;
  // Announces the batch of p whose records run from `first` to `last` before
  // processing it. Its range is [committed, last]: a gap before `first` (records
  // compaction removed) is committed first, so that the range starts at the batch's
  // first record and a member that hands the batch out again after a crash names it
  // the same, even if compaction removes that record too. Returns false (and
  // releases p) when p was taken over.
  virtual bool announce(PartitionId p, Offset first, Offset last) = 0;
  // Releases p (after committing what was processed).
  virtual void release(PartitionId p) = 0;
  // True while an owned partition has an offset that commit() accepted but the
  // group has not recorded yet (Kafka refuses commits while its group rebalances);
  // rebalance() sends it again. A run that ends by itself (-e) waits for it. The
  // local log records each commit at once: never.
  virtual bool commits_pending() const { return false; }

  // With stop_at_start_end: true when p's read position reached its end bound.
  virtual bool at_end(PartitionId p) const = 0;
  // True when every owned partition has reached its end bound and every other one
  // has a committed offset at it (nothing left anywhere for this run of -e). Without
  // commits, partitions owned by live members count as done.
  virtual bool finished() = 0;
  // For a poll(2) loop: a descriptor that becomes readable when new records may
  // have come (changes made after the consumer was made are never missed), and the
  // call that clears it once it was readable.
  virtual int wakeup_fd() const = 0;
  virtual void drain_wakeups() = 0;
  virtual const TopicConfig& topic() const = 0;
};

}  // namespace pspf
