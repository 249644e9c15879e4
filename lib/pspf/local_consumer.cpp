#include "pspf/local_consumer.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <limits>

#include <fmt/format.h>

#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/offset_reset.h"
#include "pspf/paths.h"

namespace pspf {

namespace {
using Clock = std::chrono::steady_clock;
// How often a member caught up with the published end checks for records a dead
// writer left unsynced (a live writer publishes its own at once).
constexpr auto kSettleEvery = std::chrono::milliseconds(200);
std::vector<std::string> partition_dirs(const LocalLog& log, const TopicConfig& t) {
  std::vector<std::string> dirs;
  for (int32_t p = 0; p < t.partitions; ++p)
    dirs.push_back(paths::partition_dir(log.dir(), t.name, PartitionId(p)));
  return dirs;
}
}  // namespace

struct LocalConsumer::Part {
  std::string dir;
  std::unique_ptr<PartitionReader> reader;
  Offset durable{0};
  Clock::time_point settled{};
  BatchRef batch;
  std::optional<RecordIterator> records;
  std::optional<RecordView> pending;  // read from the batch but not handed out yet
  Offset position{0};
  Offset committed{0};
  uint64_t epoch = 0;
  int64_t announced_last = -1;
};

LocalConsumer::LocalConsumer(const LocalLog& log, const std::string& group, TopicConfig topic,
                             Position from, bool stop_at_start_end, bool commit)
    : log_(log),
      topic_(std::move(topic)),
      from_(from),
      offsets_(log.group_offsets(group)),
      member_(log.join_group(group, topic_)),
      stop_at_start_end_(stop_at_start_end),
      commit_(commit),
      watcher_(partition_dirs(log, topic_)) {
  // -e ends each partition at its durable end as it was at the start: what a dead
  // writer left unsynced is settled first, so that it is not left for the next run.
  if (stop_at_start_end_)
    for (int32_t p = 0; p < topic_.partitions; ++p)
      start_ends_.push_back(
          settle_durable_end(paths::partition_dir(log_.dir(), topic_.name, PartitionId(p)),
                             Log::label(topic_, PartitionId(p))));
  warn_ = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
}

Offset LocalConsumer::durable_end(PartitionId p, Part& s) {
  if (stop_at_start_end_) return start_ends_[static_cast<size_t>(p.value)];
  if (s.durable > s.position) return s.durable;  // it only grows: read it when reached
  if (std::optional<Offset> mark = read_durable_end(s.dir); mark && *mark > s.position) {
    s.durable = *mark;
  } else if (Clock::now() - s.settled >= kSettleEvery) {
    s.settled = Clock::now();
    s.durable = settle_durable_end(s.dir, Log::label(topic_, p));
  }
  return s.durable;
}

void LocalConsumer::check_stalled(PartitionId p, Part& s, Offset durable) {
  // Nothing more to read below the durable end. Those records were acknowledged, so
  // the log holds them, unless a compaction removed the last ones before an empty
  // active segment: the log's end tells the two apart (durable_end.h, 5).
  if (Clock::now() - s.settled < kSettleEvery) return;
  s.settled = Clock::now();
  std::string label = Log::label(topic_, p);
  check_durable_end(durable, PartitionReader(s.dir, label).log_end(), label);
}

LocalConsumer::~LocalConsumer() = default;

LocalConsumer::Part& LocalConsumer::part(PartitionId p) {
  auto it = parts_.find(p.value);
  assert(it != parts_.end());
  return *it->second;
}

const LocalConsumer::Part& LocalConsumer::part(PartitionId p) const {
  auto it = parts_.find(p.value);
  assert(it != parts_.end());
  return *it->second;
}

RebalanceChange LocalConsumer::rebalance(const std::function<bool(PartitionId)>& busy) {
  auto change = member_->rebalance([&](PartitionId p) { return !busy(p); });
  for (PartitionId p : change.released) parts_.erase(p.value);
  take(change.gained);
  return change;
}

void LocalConsumer::follow_resets(const std::function<bool(PartitionId)>& busy) {
  if (parts_.empty()) return;
  // Read the commit file only when it changed (it can be large, and this runs at
  // every wake-up): an append grows it, a compaction replaces it.
  std::string path = paths::group_offsets(offsets_->dir());
  std::pair<uint64_t, uint64_t> stamp{0, 0};
  if (Fd fd = open_file_if_exists(path, O_RDONLY); fd.valid()) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw_errno("cannot stat " + path);
    stamp = {static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size)};
  }
  if (stamp == offsets_seen_) return;
  offsets_seen_ = stamp;
  auto state = offsets_->load();
  std::vector<PartitionId> reset;
  for (const auto& [p, s] : parts_) {
    // We hold p's owner lock: only an administrator (pspf-offsets --force) can have
    // bumped its epoch since our claim.
    auto it = state.find({topic_.name, p});
    if (it != state.end() && it->second.epoch != s->epoch && !busy(PartitionId(p)))
      reset.push_back(PartitionId(p));
  }
  for (PartitionId p : reset) parts_.erase(p.value);
  take(reset);  // new claims, from the offsets the administrator set
}

void LocalConsumer::take(const std::vector<PartitionId>& ps) {
  std::vector<Committed> claims = offsets_->claim(topic_.name, ps, member_->id());
  std::vector<std::unique_ptr<Part>> taken;
  std::vector<GroupOffsets::Commit> starts;  // of partitions without a usable offset
  for (size_t i = 0; i < ps.size(); ++i) {
    PartitionId p = ps[i];
    const Committed& c = claims[i];
    auto part = std::make_unique<Part>();
    part->epoch = c.epoch;
    part->dir = paths::partition_dir(log_.dir(), topic_.name, p);
    part->reader = log_.reader(topic_, p);
    Offset start;
    Offset end = part->reader->log_end();
    bool out_of_range = c.offset.value >= 0 && c.offset > end;
    if (c.offset.value >= 0 && !out_of_range) {
      start = c.offset;
    } else {
      // No offset yet, or one past the log end: the log lost records the group had
      // consumed (a power loss under --sync none, a repair), and new records may take
      // their offsets. Either way the group's reset policy (--from) decides, as
      // Kafka's auto.offset.reset does; an offset out of range is never silent.
      start = offset_of_position(*part->reader, from_, part->reader->log_start(), end);
      if (out_of_range)
        warn_(fmt::format(
            "warning: group {} {}: committed offset {} is past the log end {} "
            "(records the group consumed are gone from the log); restarting at "
            "offset {} as --from says",
            offsets_->group(), Log::label(topic_, p), c.offset.value, end.value, start.value));
      // A new group's starting point is decided once, here: commit it, so that a run
      // that reads nothing still leaves the group at --from (as Kafka's reset does).
      if (commit_) starts.push_back({p, start, part->epoch});
    }
    part->committed = start;
    part->position = start;
    if (c.offset.value >= 0 && !out_of_range && c.pending_last >= c.offset.value)
      part->announced_last = c.pending_last;
    taken.push_back(std::move(part));
  }
  std::vector<PartitionId> fenced = offsets_->commit(topic_.name, starts, member_->id());
  for (size_t i = 0; i < ps.size(); ++i) {
    if (std::find(fenced.begin(), fenced.end(), ps[i]) != fenced.end()) {
      member_->release(ps[i]);
      continue;
    }
    taken[i]->reader->seek(taken[i]->position);
    parts_[ps[i].value] = std::move(taken[i]);
  }
}

size_t LocalConsumer::poll(PartitionId p, size_t max,
                           const std::function<void(const RecordView&)>& fn) {
  return read(p, max, std::nullopt, fn);
}

size_t LocalConsumer::poll_until(PartitionId p, Offset until,
                                 const std::function<void(const RecordView&)>& fn) {
  return read(p, std::numeric_limits<size_t>::max(), until, fn);
}

size_t LocalConsumer::read(PartitionId p, size_t max, std::optional<Offset> until,
                           const std::function<void(const RecordView&)>& fn) {
  Part& s = part(p);
  size_t n = 0;
  // An announced batch was handed out before, so its records lie below the durable
  // end; a bound past it (the log cut by a power loss since) waits for the log.
  Offset end = durable_end(p, s);
  if (until && *until < end) end = *until;
  while (n < max && s.position < end) {
    if (!s.pending) {
      RecordView r;
      if (s.records && s.records->next(r)) {
        if (r.offset < s.position) continue;  // before the position inside a batch
        s.pending = r;
      } else {
        // Past the batch: its last offsets may be gaps compaction left.
        if (s.records) s.position = std::max(s.position, s.batch.header.next_offset());
        s.records.reset();
        if (!s.reader->next(s.batch)) {
          // Everything below the end bound was in the log when we started (for an
          // announced batch, when it was first handed out): finding nothing more
          // means the rest up to it is a compaction gap.
          if (stop_at_start_end_ || until)
            s.position = std::max(s.position, end);
          else
            check_stalled(p, s, end);
          break;
        }
        s.records.emplace(s.batch.data, s.batch.header);
        continue;
      }
    }
    if (s.pending->offset >= end) {
      // The next record lies past the bound: nothing is left below it.
      if (until && end == *until) s.position = std::max(s.position, end);
      break;
    }
    fn(*s.pending);
    s.position = Offset(s.pending->offset.value + 1);
    s.pending.reset();
    ++n;
  }
  return n;
}

Offset LocalConsumer::position(PartitionId p) const { return part(p).position; }
Offset LocalConsumer::committed(PartitionId p) const { return part(p).committed; }

void LocalConsumer::rewind(PartitionId p, Offset to) {
  Part& s = part(p);
  s.records.reset();
  s.pending.reset();
  s.position = to;
  s.reader->seek(to);
}

bool LocalConsumer::commit(PartitionId p, Offset next) {
  Part& s = part(p);
  if (next == s.committed || !commit_) return true;
  if (!offsets_->commit(topic_.name, p, next, s.epoch, member_->id())) {
    release(p);
    return false;
  }
  s.committed = next;
  return true;
}

std::vector<PartitionId> LocalConsumer::commit_all(
    const std::vector<std::pair<PartitionId, Offset>>& next) {
  std::vector<GroupOffsets::Commit> commits;
  for (const auto& [p, o] : next) {
    const Part& s = part(p);
    if (o != s.committed && commit_) commits.push_back({p, o, s.epoch});
  }
  std::vector<PartitionId> fenced = offsets_->commit(topic_.name, commits, member_->id());
  for (const GroupOffsets::Commit& c : commits) {
    if (std::find(fenced.begin(), fenced.end(), c.p) == fenced.end())
      part(c.p).committed = c.offset;
    else
      release(c.p);
  }
  return fenced;
}

std::optional<Offset> LocalConsumer::announced(PartitionId p) const {
  const Part& s = part(p);
  if (s.announced_last < s.committed.value) return std::nullopt;
  return Offset(s.announced_last);
}

bool LocalConsumer::announce(PartitionId p, Offset first, Offset last) {
  Part& s = part(p);
  // A gap before the batch (consumer.h) is committed with the announcement.
  std::optional<Offset> gap_end;
  if (first > s.committed) gap_end = first;
  if (!offsets_->announce(topic_.name, p, last, s.epoch, member_->id(), gap_end)) {
    release(p);
    return false;
  }
  if (gap_end) s.committed = *gap_end;
  s.announced_last = last.value;
  return true;
}

void LocalConsumer::release(PartitionId p) {
  parts_.erase(p.value);
  member_->release(p);
}

bool LocalConsumer::at_end(PartitionId p) const {
  if (!stop_at_start_end_) return false;
  return part(p).position >= start_ends_[static_cast<size_t>(p.value)];
}

bool LocalConsumer::finished() {
  if (!stop_at_start_end_) return false;
  for (const auto& [p, s] : parts_)
    if (s->position < start_ends_[static_cast<size_t>(p)]) return false;
  // Partitions we do not own: done when their committed offset reached our end. A
  // live owner is not enough: it may have started earlier, with a lower end, and
  // leave at it; then the partition is free and we take it. (Without commits there
  // is nothing to wait for: a live owner finishes its partitions.)
  auto committed = offsets_->load();
  std::map<int32_t, OwnerInfo> owners;
  if (!commit_) owners = log_.partition_owners(offsets_->group(), topic_);
  for (int32_t p = 0; p < topic_.partitions; ++p) {
    if (parts_.count(p) || owners.count(p)) continue;
    auto it = committed.find({topic_.name, p});
    Offset c = it != committed.end() ? it->second.offset : Offset(-1);
    if (c < start_ends_[static_cast<size_t>(p)]) return false;
  }
  return true;
}

}  // namespace pspf
