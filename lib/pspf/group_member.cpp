#include "pspf/group_member.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pspf/error.h"
#include "pspf/paths.h"

namespace pspf {

namespace {

std::function<void()> g_join_hook;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// True when someone holds an flock on `fd` (a non-blocking shared lock fails).
bool held_by_someone(int fd) {
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
    return false;
  }
  return errno == EWOULDBLOCK;
}

int live_in(const std::string& members_dir, const std::string& self_path) {
  if (!path_exists(members_dir)) return 0;
  int live = 0;
  for (const auto& name : list_dir(members_dir)) {
    std::string path = members_dir + "/" + name;
    if (path == self_path) {
      ++live;
      continue;
    }
    Fd fd = open_file_if_exists(path, O_RDONLY);
    if (!fd.valid()) continue;
    // A name beginning with a dot is a member still joining (see the constructor): it
    // creates the file, locks it, writes its JSON and renames it in. It counts once
    // renamed in.
    bool joining = name[0] == '.';
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      // Nobody holds it: its member is dead. Remove the file while we hold the lock;
      // but an empty joining file may belong to a member between creating and locking
      // it (removing that made its rename fail: three members started together did
      // not always all join). A joiner writes only once locked, so a dead one's file
      // has content; one that died before locking leaves an empty file, never counted.
      if (!joining || file_size(fd.get(), path) > 0) remove_file(path);
      continue;
    }
    if (!joining) ++live;
  }
  return live;
}

}  // namespace

GroupMember::GroupMember(std::string data_dir, std::string group, TopicConfig topic)
    : data_dir_(std::move(data_dir)),
      group_dir_(paths::group_dir(data_dir_, group)),
      topic_(std::move(topic)) {
  std::random_device rd;
  std::string host = host_name();
  id_ = fmt::format("{}-{}-{:08x}", host, ::getpid(), rd());
  nlohmann::json info{{"member", id_}, {"pid", ::getpid()}, {"host", host}};
  info_ = info.dump();
  std::string members = paths::group_members_dir(group_dir_);
  make_dirs(members);
  make_dirs(paths::group_owners_dir(group_dir_, topic_.name));
  // Lock the file before it appears under its real name, so that nobody can see it
  // unlocked and take it for a dead member's.
  std::string tmp = members + "/." + id_;
  member_fd_ = open_file(tmp, O_RDWR | O_CREAT | O_EXCL, 0644);
  if (g_join_hook) g_join_hook();
  if (::flock(member_fd_.get(), LOCK_EX) != 0) throw_errno("cannot lock " + tmp);
  pwrite_all(member_fd_.get(), info_.data(), info_.size(), 0, tmp);
  member_path_ = members + "/" + id_;
  // Not synced: a member file means something only while its process holds the lock,
  // and a power loss ends every process.
  rename_path(tmp, member_path_, false);
  start_ = static_cast<int32_t>(rd() % static_cast<unsigned>(topic_.partitions));
}

GroupMember::~GroupMember() {
  owned_.clear();  // closing the fds releases the partition locks
  try {
    remove_file(member_path_);
  } catch (const Error&) {
    // A destructor must not throw; a dead member's file is removed by the next member.
  }
}

void GroupMember::set_join_hook_for_tests(std::function<void()> hook) {
  g_join_hook = std::move(hook);
}

int GroupMember::live_members() {
  return std::max(1, live_in(paths::group_members_dir(group_dir_), member_path_));
}

std::vector<PartitionId> GroupMember::owned() const {
  std::vector<PartitionId> out;
  for (const auto& [p, fd] : owned_) out.push_back(PartitionId(p));
  return out;
}

void GroupMember::release(PartitionId p) { owned_.erase(p.value); }

GroupMember::Change GroupMember::rebalance(const std::function<bool(PartitionId)>& can_release) {
  Change change;
  int members = live_members();
  size_t share = static_cast<size_t>((topic_.partitions + members - 1) / members);
  if (owned_.size() > share) {
    // Give up the highest-numbered extras that are between batches.
    for (auto it = owned_.rbegin(); it != owned_.rend() && owned_.size() > share;) {
      PartitionId p(it->first);
      if (!can_release(p)) {
        ++it;
        continue;
      }
      change.released.push_back(p);
      owned_.erase(std::next(it).base());
      it = owned_.rbegin();
    }
  }
  for (int32_t i = 0; i < topic_.partitions && owned_.size() < share; ++i) {
    int32_t p = (start_ + i) % topic_.partitions;
    if (owned_.count(p)) continue;
    std::string path = paths::group_owner_lock(group_dir_, topic_.name, PartitionId(p));
    Fd fd = open_file(path, O_RDWR | O_CREAT, 0644);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) continue;  // another member owns it
      throw_errno("cannot lock " + path);
    }
    // Who owns it, for pspf-offsets describe (informational, not synced).
    truncate_file(fd.get(), 0, path);
    pwrite_all(fd.get(), info_.data(), info_.size(), 0, path);
    owned_.emplace(p, std::move(fd));
    change.gained.push_back(PartitionId(p));
  }
  return change;
}

std::map<int32_t, OwnerInfo> partition_owners(const std::string& data_dir, const std::string& group,
                                              const TopicConfig& topic) {
  std::map<int32_t, OwnerInfo> out;
  std::string group_dir = paths::group_dir(data_dir, group);
  for (int32_t p = 0; p < topic.partitions; ++p) {
    std::string path = paths::group_owner_lock(group_dir, topic.name, PartitionId(p));
    Fd fd = open_file_if_exists(path, O_RDONLY);
    if (!fd.valid() || !held_by_someone(fd.get())) continue;
    OwnerInfo info;
    try {
      auto j = nlohmann::json::parse(read_small_file(path));
      info.member = j.value("member", "");
      info.pid = j.value("pid", int64_t{0});
      info.host = j.value("host", "");
    } catch (const std::exception&) {
      info.member.assign(1, '?');  // being rewritten by its new owner right now
    }
    out[p] = info;
  }
  return out;
}

int count_live_members(const std::string& data_dir, const std::string& group) {
  return live_in(paths::group_members_dir(paths::group_dir(data_dir, group)), "");
}

}  // namespace pspf
