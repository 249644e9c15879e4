#include "pspf/log.h"

#include <algorithm>

#include <fmt/format.h>

#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/partition_state.h"
#include "pspf/paths.h"
#include "pspf/segment_swap.h"

namespace pspf {

Log::Log(std::string dir) : dir_(std::move(dir)) {
  // Nothing planted in the data directory (a symlink, a FIFO) may lead outside it.
  confine_to(dir_);
}

std::optional<TopicConfig> Log::find_topic(std::string_view name) const {
  return pspf::find_topic(dir_, name);
}

TopicConfig Log::topic(std::string_view name) const { return load_topic(dir_, name); }

TopicConfig Log::create_topic(const TopicConfig& cfg) { return pspf::create_topic(dir_, cfg); }

TopicConfig Log::open_or_create(std::string_view name, int32_t partitions, bool& created) {
  created = false;
  if (auto t = find_topic(name)) return *t;
  TopicConfig cfg;
  cfg.name = std::string(name);
  cfg.partitions = partitions;
  try {
    TopicConfig t = pspf::create_topic(dir_, cfg);
    created = true;
    return t;
  } catch (const Error& e) {
    if (e.code() != Errc::exists) throw;
    return topic(name);  // another process created it first: use theirs
  }
}

std::vector<std::string> Log::list_topics() const { return pspf::list_topics(dir_); }

void Log::delete_topic(std::string_view name) { pspf::delete_topic(dir_, name); }

TopicConfig Log::alter_topic(std::string_view name,
                             const std::function<void(TopicConfig&)>& change) {
  return pspf::alter_topic(dir_, name, change);
}

PartitionDirs Log::check_partition_dirs(const TopicConfig& t) const {
  return pspf::check_partition_dirs(dir_, t);
}

std::vector<std::string> Log::list_groups() const { return GroupOffsets::list(dir_); }

std::unique_ptr<GroupOffsets> Log::group_offsets(std::string_view group) const {
  return std::make_unique<GroupOffsets>(dir_, std::string(group));
}

std::unique_ptr<GroupMember> Log::join_group(std::string_view group, const TopicConfig& t) const {
  return std::make_unique<GroupMember>(dir_, std::string(group), t);
}

int Log::live_members(std::string_view group) const {
  return count_live_members(dir_, std::string(group));
}

std::map<int32_t, OwnerInfo> Log::partition_owners(std::string_view group,
                                                   const TopicConfig& t) const {
  return pspf::partition_owners(dir_, std::string(group), t);
}

std::string Log::label(const TopicConfig& t, PartitionId p) {
  return fmt::format("topic {} partition {}", t.name, p.value);
}

std::unique_ptr<PartitionWriter> Log::writer(const TopicConfig& t, PartitionId p) const {
  return std::make_unique<PartitionWriter>(paths::partition_dir(dir_, t.name, p), label(t, p),
                                           t.segment_bytes, t.dedup_window);
}

std::unique_ptr<PartitionReader> Log::reader(const TopicConfig& t, PartitionId p) const {
  return std::make_unique<PartitionReader>(paths::partition_dir(dir_, t.name, p), label(t, p));
}

int64_t Log::key_version(const TopicConfig& t, PartitionId p, std::string_view key) const {
  std::string pdir = paths::partition_dir(dir_, t.name, p);
  Offset log_end = PartitionReader(pdir, label(t, p)).log_end();
  // Only what is durable counts, as for a consumer (without a mark, from a version
  // before the durable end was kept, everything does).
  Offset end = log_end;
  if (std::optional<Offset> durable = read_durable_end(pdir)) end = std::min(end, *durable);
  return PartitionState(pdir, label(t, p), t.dedup_window).peek_key_version(key, end, log_end);
}

PartitionScan Log::scan(const TopicConfig& t, PartitionId p, bool verify_indexes) const {
  return scan_partition(paths::partition_dir(dir_, t.name, p), verify_indexes);
}

PartitionScan Log::repair(const TopicConfig& t, PartitionId p) const {
  std::string pdir = paths::partition_dir(dir_, t.name, p);
  // What a compaction that died left is finished or rolled back first, unless a
  // compaction is running (it does that itself).
  FileLock compacting(paths::compact_lock(dir_, t.name));
  if (compacting.lock(false)) finish_leftovers(pdir);
  return repair_partition(pdir);
}

}  // namespace pspf
