#include "pspf/local_log.h"

#include <algorithm>

#include <fmt/format.h>

#include "pspf/batch.h"
#include "pspf/compact.h"
#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/latest.h"
#include "pspf/local_consumer.h"
#include "pspf/local_producer.h"
#include "pspf/local_topic_reader.h"
#include "pspf/partition_state.h"
#include "pspf/paths.h"
#include "pspf/segment_swap.h"

namespace pspf {

namespace {

// Calls fn(record) for records of partition p from where `reader` stands, in offset
// order, up to `end`, until fn returns true. Returns whether it did.
template <typename Fn>
bool scan_records(PartitionReader& reader, Offset end, Fn&& fn) {
  BatchRef b;
  while (reader.next(b)) {
    if (b.header.base_offset >= end) return false;
    RecordIterator it(b.data, b.header);
    RecordView r;
    while (it.next(r)) {
      if (r.offset >= end) return false;
      if (fn(r)) return true;
    }
  }
  return false;
}

}  // namespace

OffsetBounds LocalLog::offset_bounds(const TopicConfig& t, PartitionId p) const {
  auto reader = this->reader(t, p);
  OffsetBounds b;
  b.start = reader->log_start();
  b.end = reader->log_end();
  return b;
}

Offset LocalLog::offset_for_time(const TopicConfig& t, PartitionId p, Timestamp time,
                                 Offset end) const {
  auto reader = this->reader(t, p);
  return offset_of_position(*reader, {Position::Kind::time, time.value}, Offset(0), end);
}

std::optional<Timestamp> LocalLog::append_time_from(const TopicConfig& t, PartitionId p,
                                                    Offset from, Offset end) const {
  if (from >= end) return std::nullopt;
  auto reader = this->reader(t, p);
  reader->seek(from);
  std::optional<Timestamp> found;
  scan_records(*reader, end, [&](const RecordView& r) {
    if (r.offset < from) return false;  // earlier records of the batch the seek landed in
    found = r.timestamp;
    return true;
  });
  return found;
}

LocalLog::LocalLog(std::string dir) : dir_(std::move(dir)) {
  // Nothing planted in the data directory (a symlink, a FIFO) may lead outside it.
  confine_to(dir_);
}

std::optional<TopicConfig> LocalLog::find_topic(std::string_view name) const {
  return pspf::find_topic(dir_, name);
}

TopicConfig LocalLog::topic(std::string_view name) const { return load_topic(dir_, name); }

TopicConfig LocalLog::create_topic(const TopicConfig& cfg) { return pspf::create_topic(dir_, cfg); }

std::vector<std::string> LocalLog::list_topics() const { return pspf::list_topics(dir_); }

void LocalLog::delete_topic(std::string_view name) { pspf::delete_topic(dir_, name); }

TopicConfig LocalLog::alter_topic(std::string_view name,
                                  const std::function<void(TopicConfig&)>& change) {
  return pspf::alter_topic(dir_, name, change);
}

PartitionDirs LocalLog::check_partition_dirs(const TopicConfig& t) const {
  return pspf::check_partition_dirs(dir_, t);
}

std::vector<std::string> LocalLog::list_groups() const { return GroupOffsets::list(dir_); }

std::unique_ptr<GroupOffsets> LocalLog::group_offsets(std::string_view group) const {
  return std::make_unique<GroupOffsets>(dir_, std::string(group));
}

bool LocalLog::group_exists(std::string_view group) const {
  if (group_offsets(group)->exists()) return true;
  auto all = list_groups();
  return std::find(all.begin(), all.end(), group) != all.end();
}

std::map<TopicPartition, Committed> LocalLog::committed_offsets(std::string_view group) const {
  return group_offsets(group)->load();
}

void LocalLog::set_offsets(std::string_view group,
                           const std::vector<std::pair<TopicPartition, Offset>>& offsets,
                           const std::string& who) const {
  group_offsets(group)->set(offsets, who);
}

void LocalLog::delete_group(std::string_view group) const { group_offsets(group)->remove(); }

std::unique_ptr<GroupMember> LocalLog::join_group(std::string_view group,
                                                  const TopicConfig& t) const {
  return std::make_unique<GroupMember>(dir_, std::string(group), t);
}

int LocalLog::live_members(std::string_view group) const {
  return count_live_members(dir_, std::string(group));
}

std::map<int32_t, OwnerInfo> LocalLog::partition_owners(std::string_view group,
                                                        const TopicConfig& t) const {
  return pspf::partition_owners(dir_, std::string(group), t);
}

std::unique_ptr<Producer> LocalLog::producer(const TopicConfig& t, SyncMode sync,
                                             size_t batch_bytes) const {
  return std::make_unique<LocalProducer>(*this, t, sync, batch_bytes);
}

std::unique_ptr<TopicReader> LocalLog::read(const TopicConfig& t, ReadOptions options) const {
  return std::make_unique<LocalTopicReader>(*this, t, std::move(options));
}

std::unique_ptr<Consumer> LocalLog::consume(const std::string& group, const TopicConfig& t,
                                            Position from, bool stop_at_start_end,
                                            bool commit) const {
  return std::make_unique<LocalConsumer>(*this, group, t, from, stop_at_start_end, commit);
}

void LocalLog::for_each_latest(
    const TopicConfig& t, const LatestOptions& o,
    const std::function<void(PartitionId, const RecordView&)>& fn) const {
  pspf::for_each_latest(*this, t, o, fn);
}

TopicReport LocalLog::compact(const TopicConfig& t, const CompactOptions& o) const {
  return compact_topic(*this, t, o);
}

std::unique_ptr<PartitionWriter> LocalLog::writer(const TopicConfig& t, PartitionId p) const {
  return std::make_unique<PartitionWriter>(paths::partition_dir(dir_, t.name, p), label(t, p),
                                           t.segment_bytes, t.dedup_window);
}

std::unique_ptr<PartitionReader> LocalLog::reader(const TopicConfig& t, PartitionId p) const {
  return std::make_unique<PartitionReader>(paths::partition_dir(dir_, t.name, p), label(t, p));
}

int64_t LocalLog::key_version(const TopicConfig& t, PartitionId p, std::string_view key) const {
  std::string pdir = paths::partition_dir(dir_, t.name, p);
  std::string l = label(t, p);
  // The mark first: it never passes records the log's end, read after it, misses.
  std::optional<Offset> durable = read_durable_end(pdir);
  Offset log_end = PartitionReader(pdir, l).log_end();
  check_durable_end(durable, log_end, l);
  // Only what is durable counts, as for a consumer (without a mark, from a version
  // before the durable end was kept, everything does).
  Offset end = durable ? std::min(log_end, *durable) : log_end;
  return PartitionState(pdir, l, t.dedup_window, partition_batches(pdir, l))
      .peek_key_version(key, end, log_end);
}

PartitionScan LocalLog::scan(const TopicConfig& t, PartitionId p, bool verify_indexes) const {
  return scan_partition(paths::partition_dir(dir_, t.name, p), verify_indexes);
}

PartitionScan LocalLog::repair(const TopicConfig& t, PartitionId p) const {
  std::string pdir = paths::partition_dir(dir_, t.name, p);
  // What a compaction that died left is finished or rolled back first, unless a
  // compaction is running (it does that itself).
  FileLock compacting(paths::compact_lock(dir_, t.name));
  if (compacting.lock(false)) finish_leftovers(pdir);
  return repair_partition(pdir);
}

std::unique_ptr<Log> open_local_log(std::string dir) {
  return std::make_unique<LocalLog>(std::move(dir));
}

}  // namespace pspf
