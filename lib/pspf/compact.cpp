#include "pspf/compact.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/local_log.h"
#include "pspf/paths.h"
#include "pspf/removed_keys.h"

namespace pspf {

namespace {

// One partition's run: where it reads, where it writes, and what it has to do.
struct Job {
  std::string dir;      // the partition
  std::string out_dir;  // the copy's partition (into), else empty
  std::string label;
  const TopicConfig* t;
  const CompactOptions* o;
  int64_t now = 0;
  uint64_t token = 0;
  uint64_t done = 0;
  uint64_t total = 0;
  std::vector<std::string> written;  // swap files written, removed on a failure before the commit

  bool into() const { return !out_dir.empty(); }
  void progress(uint64_t n) {
    done += n;
    if (o->progress) o->progress(label, done, total);
  }
  // Where the cleaned copy of segment `base` goes, file by file.
  std::string out(Offset base, std::string_view ext) const {
    if (o->dry_run) return {};
    return into() ? paths::segment_file(out_dir, base, ext)
                  : paths::swap_file(dir, base, ext, token);
  }
};

void add_counts(KeyCounts& to, const KeyCounts& from) {
  for (const auto& [k, n] : from) to[k] += n;
}

RemovalRecord record_of(RemovalKind kind, uint64_t token, Offset base, const KeyCounts& counts) {
  RemovalRecord r;
  r.kind = kind;
  r.token = token;
  r.base = base;
  for (const auto& [k, n] : counts) r.counts.emplace(k, n);
  return r;
}

// How many of the oldest closed segments retention removes.
size_t retention_prefix(const TopicConfig& t, int64_t now, const std::vector<SegmentTail>& tails,
                        size_t closed) {
  if (!t.cleanup.del) return 0;
  // Bytes of the segments after each one (the active segment included).
  std::vector<uint64_t> newer(tails.size() + 1, 0);
  for (size_t i = tails.size(); i-- > 0;) newer[i] = newer[i + 1] + tails[i].bytes;
  size_t n = 0;
  for (; n < closed; ++n) {
    bool by_time = t.retention_ms >= 0 && tails[n].max_timestamp < now - t.retention_ms;
    bool by_bytes = t.retention_bytes >= 0 && newer[n + 1] >= uint64_t(t.retention_bytes);
    if (!by_time && !by_bytes) break;
  }
  return n;
}

void remove_written(Job& job) {
  for (const auto& f : job.written) remove_file(f);
  job.written.clear();
}

PartitionReport compact_partition(Job& job, int32_t p) {
  const TopicConfig& t = *job.t;
  const CompactOptions& o = *job.o;
  PartitionReport rep;
  rep.partition = p;
  if (!job.into()) rep.leftovers = finish_leftovers(job.dir, o.dry_run);
  if (o.roll && !o.dry_run && !job.into())
    PartitionWriter(job.dir, job.label, t.segment_bytes).roll_active();
  std::vector<Offset> segs = list_segments(job.dir);
  rep.segments = static_cast<uint32_t>(segs.size());
  if (segs.empty()) return rep;
  Offset end = PartitionReader(job.dir, job.label).log_end();
  std::vector<SegmentTail> tails;
  for (Offset base : segs) tails.push_back(segment_tail(job.dir, base));
  // The active segment counts as closed in a copy (read up to the end seen now), and
  // in a dry run of --roll (which would close it).
  bool active_too = job.into() || (o.roll && o.dry_run);
  size_t closed = active_too ? segs.size() : segs.size() - 1;
  size_t n_del = retention_prefix(t, job.now, tails, closed);
  size_t n_clean = n_del;
  if (t.cleanup.compact || job.into())
    while (n_clean < closed && tails[n_clean].max_timestamp <= job.now - t.min_compaction_lag_ms)
      ++n_clean;
  for (size_t i = 0; i < n_clean; ++i) job.total += tails[i].bytes * (i < n_del ? 1 : 2);

  CleanRules rules;
  rules.end = end;
  rules.stop = o.stop;
  rules.progress = [&job](uint64_t n) { job.progress(n); };
  rules.tombstones_before = job.now - t.delete_retention_ms;
  // Only the active segment, read in a copy or a dry run of --roll, is live.
  if (active_too) rules.live_segment = segs.back();
  if (t.dedup_window.events > 0)
    rules.ids_from_offset = end.value - static_cast<int64_t>(t.dedup_window.events);
  else if (t.dedup_window.ms > 0)
    rules.ids_from_time = job.now - t.dedup_window.ms;

  std::vector<RemovalRecord> changes;
  KeyCounts removed_total;
  auto path_of = [&](Offset b) { return paths::segment_file(job.dir, b, paths::kLogExt); };
  // Retention: count the keys of what goes (for key versions), then remove it.
  rules.mode = CleanRules::Mode::drop_all;
  KeyMap none;
  for (size_t i = 0; i < n_del; ++i) {
    SegmentStats st = clean_segment(path_of(segs[i]), segs[i], none, rules, "", "", "");
    rep.segments_deleted++;
    rep.bytes_deleted += tails[i].bytes;
    rep.records_deleted += st.records_in;
    if (job.into())
      add_counts(removed_total, st.removed);
    else
      changes.push_back(record_of(RemovalKind::del, job.token, segs[i], st.removed));
  }
  // Compaction: pass 1 maps every key to its latest offset, pass 2 writes the copies.
  KeyMap map;
  rules.mode = CleanRules::Mode::compact;
  for (size_t i = n_del; i < n_clean; ++i) map_segment(path_of(segs[i]), segs[i], rules, map);
  rep.keys = map.size();
  for (size_t i = n_del; i < segs.size(); ++i) {
    if (i >= n_clean && !job.into()) break;
    // In a copy, the segments too young to compact are copied as they are.
    rules.mode = i < n_clean ? CleanRules::Mode::compact : CleanRules::Mode::keep_all;
    std::string out_log = job.out(segs[i], paths::kLogExt);
    if (!out_log.empty() && !job.into()) job.written.push_back(out_log);
    SegmentStats st =
        clean_segment(path_of(segs[i]), segs[i], map, rules, out_log,
                      job.out(segs[i], paths::kIndexExt), job.out(segs[i], paths::kTimeIndexExt));
    if (!out_log.empty() && !job.into()) {
      job.written.push_back(job.out(segs[i], paths::kIndexExt));
      job.written.push_back(job.out(segs[i], paths::kTimeIndexExt));
    }
    if (i < n_clean) {
      rep.segments_cleaned++;
      rep.bytes_cleaned += st.bytes_in;
      rep.bytes_after += st.bytes_out;
      rep.records_cleaned += st.records_in;
      rep.records_after += st.records_out;
      rep.tombstones_dropped += st.tombstones_dropped;
    }
    bool emptied = st.records_out == 0 && st.records_in > 0;
    if (emptied)
      rep.segments_emptied++;
    else if (st.records_out < st.records_in)
      rep.segments_rewritten++;
    if (job.into()) {
      add_counts(removed_total, st.removed);
      if (st.records_out == 0)
        for (auto ext : {paths::kLogExt, paths::kIndexExt, paths::kTimeIndexExt})
          remove_file(job.out(segs[i], ext));
      continue;
    }
    if (st.records_out == st.records_in || emptied) {
      // Nothing to swap in: the copy goes (an emptied segment is removed instead).
      for (auto ext : {paths::kLogExt, paths::kIndexExt, paths::kTimeIndexExt})
        if (!out_log.empty()) remove_file(job.out(segs[i], ext));
    }
    if (emptied)
      changes.push_back(record_of(RemovalKind::del, job.token, segs[i], st.removed));
    else if (st.records_out < st.records_in)
      changes.push_back(record_of(RemovalKind::swap, job.token, segs[i], st.removed));
  }
  if (o.dry_run) return rep;
  if (job.into()) {
    // The copy's next append must get the next offset, never one seen before.
    std::string last = paths::segment_file(job.out_dir, end, paths::kLogExt);
    if (!path_exists(last)) open_file(last, O_WRONLY | O_CREAT, 0644);
    auto counts = load_removed_keys(job.dir);
    for (const auto& [k, n] : removed_total) counts[k] += n;
    if (!counts.empty()) write_removed_totals(job.out_dir, counts);
    sync_dir(job.out_dir);
    return rep;
  }
  // The swap files are the commit's from its first written byte on: a failure after
  // that leaves them to the next compaction (segment_swap.h says why).
  commit_segment_changes(job.dir, std::move(changes), [&] { job.written.clear(); });
  return rep;
}

}  // namespace

TopicReport compact_topic(const LocalLog& log, const TopicConfig& t, const CompactOptions& o) {
  TopicReport report;
  report.topic = t.name;
  report.policy = t.cleanup;
  FileLock lock;
  if (!o.into && !o.dry_run) {
    lock = FileLock(paths::compact_lock(log.dir(), t.name));
    if (!lock.lock(o.wait))
      throw Error(Errc::busy, fmt::format("topic {}: another pspf-compact is running on it "
                                          "(without --no-wait, this one would wait)",
                                          t.name));
  }
  if (o.into) confine_to(*o.into);  // a second data directory: the same rules inside it
  // A copy is built whole under tmp/ of --into and becomes a topic only once every
  // partition is written and synced (topic.h, stage_topic): a copy that failed or
  // died half-way is never there to be taken for a snapshot.
  TopicConfig copy = t;
  std::string staged;
  if (o.into && !o.dry_run) staged = stage_topic(*o.into, copy);
  uint64_t token = new_swap_token();
  int64_t now = o.now ? o.now->value : now_ms().value;
  for (int32_t p = 0; p < t.partitions; ++p) {
    Job job;
    job.dir = paths::partition_dir(log.dir(), t.name, PartitionId(p));
    if (!staged.empty())
      job.out_dir = fmt::format("{}/{}", staged, p);
    else if (o.into)  // a dry run: nothing is written there
      job.out_dir = paths::partition_dir(*o.into, t.name, PartitionId(p));
    job.label = Log::label(t, PartitionId(p));
    job.t = &t;
    job.o = &o;
    job.now = now;
    job.token = token;
    try {
      report.partitions.push_back(compact_partition(job, p));
    } catch (...) {
      remove_written(job);  // uncommitted swap files: the topic stays as it was
      if (!staged.empty()) {
        try {
          remove_tree(staged);
        } catch (const Error&) {  // (left in tmp/; the first failure is the one reported)
        }
      }
      throw;
    }
  }
  if (!staged.empty()) publish_topic(*o.into, staged, copy);
  return report;
}

}  // namespace pspf
