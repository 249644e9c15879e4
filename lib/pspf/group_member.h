// GroupMember: membership of a consumer group without a coordinator.
//
// A member is live while it holds an exclusive flock on its own file in
// groups/<g>/members/ (made under a temporary name, locked, then renamed in, so no
// one ever sees it unlocked). It owns a partition while it holds the flock on
// groups/<g>/owners/<topic>/<partition>. The kernel drops both locks when the process
// dies, however it dies, so there is no heartbeat and no stale lock to clean up:
// another member takes the partition over from its last committed offset.
//
// Balance: with P partitions and M live members each member owns at most
// ceil(P/M). rebalance() gives up partitions above that share (only ones the caller
// says may go: nothing of theirs is being processed, so nothing is processed twice)
// and takes free partitions up to it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pspf/file.h"
#include "pspf/group_state.h"
#include "pspf/topic.h"
#include "pspf/types.h"

namespace pspf {

class GroupMember {
 public:
  // Joins `group` for `topic` in data directory `data_dir`.
  GroupMember(std::string data_dir, std::string group, TopicConfig topic);
  ~GroupMember();
  GroupMember(const GroupMember&) = delete;
  GroupMember& operator=(const GroupMember&) = delete;

  const std::string& id() const { return id_; }

  using Change = RebalanceChange;
  // One balancing step (see the file comment). `can_release(p)` says whether p may
  // be given up now.
  Change rebalance(const std::function<bool(PartitionId)>& can_release);

  // Gives up partition p (after the caller committed what it processed).
  void release(PartitionId p);
  bool owns(PartitionId p) const { return owned_.count(p.value) > 0; }
  std::vector<PartitionId> owned() const;
  // Live members of the group now, this one included (dead members' files are
  // removed on the way).
  int live_members();

  // Test hook: called while a joining member's file exists under its temporary name,
  // between its creation and its lock (a window a busy machine can stretch).
  static void set_join_hook_for_tests(std::function<void()> hook);

 private:
  std::string data_dir_;
  std::string group_dir_;
  TopicConfig topic_;
  std::string id_;
  std::string info_;  // JSON written into the lock files: member, pid, host
  std::string member_path_;
  Fd member_fd_;
  std::map<int32_t, Fd> owned_;
  int32_t start_;  // where this member starts looking for free partitions
};

// The live owner of each partition of `topic` in `group` (partitions without a live
// owner are absent). Reads only; takes no lock a member would wait for.
std::map<int32_t, OwnerInfo> partition_owners(const std::string& data_dir, const std::string& group,
                                              const TopicConfig& topic);
// Live members of a group (0 when none or the group does not exist).
int count_live_members(const std::string& data_dir, const std::string& group);

}  // namespace pspf
