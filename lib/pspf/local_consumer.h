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
#include "pspf/consumer.h"
#include "pspf/group_member.h"
#include "pspf/group_offsets.h"
#include "pspf/local_log.h"
#include "pspf/position.h"
#include "pspf/watcher.h"

namespace pspf {

class LocalConsumer final : public Consumer {
 public:
  // With `stop_at_start_end`, each partition ends at the log end as it was when the
  // consumer started (pspf-consume -e). Without `commit`, nothing is ever committed
  // (pspf-consume --no-commit): commit() only checks nothing and returns true.
  LocalConsumer(const LocalLog& log, const std::string& group, TopicConfig topic, Position from,
                bool stop_at_start_end, bool commit = true);
  ~LocalConsumer() override;
  LocalConsumer(const LocalConsumer&) = delete;
  LocalConsumer& operator=(const LocalConsumer&) = delete;

  void on_warning(std::function<void(const std::string&)> sink) override {
    warn_ = std::move(sink);
  }
  RebalanceChange rebalance(const std::function<bool(PartitionId)>& busy) override;
  void follow_resets(const std::function<bool(PartitionId)>& busy) override;
  std::vector<PartitionId> owned() const override { return member_->owned(); }
  const std::string& member_id() const override { return member_->id(); }
  size_t poll(PartitionId p, size_t max, const std::function<void(const RecordView&)>& fn) override;
  size_t poll_until(PartitionId p, Offset until,
                    const std::function<void(const RecordView&)>& fn) override;
  Offset position(PartitionId p) const override;
  Offset committed(PartitionId p) const override;
  void rewind(PartitionId p, Offset to) override;
  bool commit(PartitionId p, Offset next) override;
  std::vector<PartitionId> commit_all(
      const std::vector<std::pair<PartitionId, Offset>>& next) override;
  std::optional<Offset> announced(PartitionId p) const override;
  bool announce(PartitionId p, Offset first, Offset last) override;
  void release(PartitionId p) override;
  bool at_end(PartitionId p) const override;
  bool finished() override;
  int wakeup_fd() const override { return watcher_.fd(); }
  void drain_wakeups() override { watcher_.drain(); }
  const TopicConfig& topic() const override { return topic_; }

 private:
  struct Part;
  Part& part(PartitionId p);
  const Part& part(PartitionId p) const;
  // Claims ps (owned by member_) and starts each at the group's committed offset,
  // or where --from says; releases one whose start cannot be committed. The claims
  // are one record, and the starts of a new group another: two syncs in all.
  void take(const std::vector<PartitionId>& ps);
  // The end below which p's records may be handed out now: the published durable
  // end, settled (durable_end.h) when the read position has reached it.
  Offset durable_end(PartitionId p, Part& s);
  // Called when p's reader found nothing more below `durable`, the durable end:
  // throws Error(corrupt) when the log ends before it (checked every kSettleEvery).
  void check_stalled(PartitionId p, Part& s, Offset durable);
  // poll() and poll_until(): at most `max` records, below `until` if given.
  size_t read(PartitionId p, size_t max, std::optional<Offset> until,
              const std::function<void(const RecordView&)>& fn);

  const LocalLog& log_;  // borrowed: outlives the consumer
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
  Watcher watcher_;  // the partition directories, from the start
};

}  // namespace pspf
