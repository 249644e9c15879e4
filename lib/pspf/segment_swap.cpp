#include "pspf/segment_swap.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <set>
#include <utility>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/paths.h"

namespace pspf {

namespace {

constexpr uint64_t kRewriteRemovedKeysAt = 1u << 20;

void unlink_if_exists(const std::string& path) { remove_file(path); }

void rename_if_exists(const std::string& from, const std::string& to) {
  // Runs under the compaction lock: nobody else removes `from` in between.
  if (path_exists(from)) rename_path(from, to, false);
}

// Makes committed change `r` visible; idempotent (a crash may have done part of it).
void apply(const std::string& dir, const RemovalRecord& r) {
  std::string idx = paths::segment_file(dir, r.base, paths::kIndexExt);
  std::string tidx = paths::segment_file(dir, r.base, paths::kTimeIndexExt);
  if (r.kind == RemovalKind::del) {
    // Indexes first: a crash in between leaves a segment without indexes (caches),
    // never indexes without their segment.
    unlink_if_exists(idx);
    unlink_if_exists(tidx);
    unlink_if_exists(paths::segment_file(dir, r.base, paths::kLogExt));
    return;
  }
  std::string log_swap = paths::swap_file(dir, r.base, paths::kLogExt, r.token);
  if (path_exists(log_swap)) {
    // The old indexes go before the segment is replaced: a reader then finds no index
    // (and scans) or the new one, never the old one beside the new segment.
    unlink_if_exists(idx);
    unlink_if_exists(tidx);
    rename_if_exists(log_swap, paths::segment_file(dir, r.base, paths::kLogExt));
  }
  rename_if_exists(paths::swap_file(dir, r.base, paths::kIndexExt, r.token), idx);
  rename_if_exists(paths::swap_file(dir, r.base, paths::kTimeIndexExt, r.token), tidx);
}

// Rewrites removed-keys as one totals record once it is big (every record applied).
void maybe_rewrite_removed_keys(const std::string& dir) {
  std::string path = paths::removed_keys(dir);
  Fd fd = open_file_if_exists(path, 0);
  if (!fd.valid() || file_size(fd.get(), path) < kRewriteRemovedKeysAt) return;
  auto records = read_removal_records(dir);
  if (records.size() < 2) return;
  for (const auto& r : records)
    if (!removal_applied(dir, r)) return;
  write_removed_totals(dir, load_removed_keys(dir));
}

}  // namespace

uint64_t new_swap_token() {
  std::random_device rd;
  uint64_t t = 0;
  while (t == 0) t = (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
  return t;
}

void commit_segment_changes(const std::string& partition_dir, std::vector<RemovalRecord> changes,
                            const std::function<void()>& committing) {
  if (changes.empty()) return;
  std::sort(changes.begin(), changes.end(),
            [](const RemovalRecord& a, const RemovalRecord& b) { return a.base < b.base; });
  FileLock lock(paths::partition_lock(partition_dir));
  lock.lock();
  UnlockOnExit unlock(lock);
  append_removal_records(partition_dir, changes, committing);  // the commit point
  for (const auto& r : changes) apply(partition_dir, r);
  // Renames and removals live in the directory: sync it so that they survive a crash.
  sync_dir(partition_dir);
  maybe_rewrite_removed_keys(partition_dir);
}

Leftovers finish_leftovers(const std::string& partition_dir, bool dry_run) {
  Leftovers out;
  std::vector<std::string> swaps;
  for (auto& name : list_dir(partition_dir))
    if (paths::parse_swap_name(name)) swaps.push_back(std::move(name));
  bool maybe_pending_delete = path_exists(paths::removed_keys(partition_dir));
  if (swaps.empty() && !maybe_pending_delete) return out;
  FileLock lock(paths::partition_lock(partition_dir));
  if (!dry_run) lock.lock();
  auto records = read_removal_records(partition_dir);
  std::set<std::pair<uint64_t, int64_t>> committed;  // (token, base) of swap records
  bool synced = false;
  for (const auto& r : records) {
    if (r.kind == RemovalKind::swap) committed.insert({r.token, r.base.value});
    bool pending =
        !removal_applied(partition_dir, r) ||
        (r.kind == RemovalKind::swap &&
         (path_exists(paths::swap_file(partition_dir, r.base, paths::kIndexExt, r.token)) ||
          path_exists(paths::swap_file(partition_dir, r.base, paths::kTimeIndexExt, r.token))));
    if (!pending) continue;
    ++out.finished;
    if (dry_run) continue;
    if (!synced) {
      // A compaction that failed after writing its record (commit_segment_changes)
      // may have left it short of durable: its directory's sync failed, say. Make it
      // durable before applying it, or a crash could keep the change and lose the
      // record that counts the removed events.
      Fd fd = open_file(paths::removed_keys(partition_dir), O_RDONLY);
      sync_data(fd.get(), paths::removed_keys(partition_dir));
      sync_dir(partition_dir);
      synced = true;
    }
    apply(partition_dir, r);
  }
  for (const auto& name : swaps) {
    auto s = paths::parse_swap_name(name);
    if (committed.count({s->token, s->base.value})) continue;
    ++out.rolled_back;
    if (!dry_run) unlink_if_exists(partition_dir + "/" + name);
  }
  if (!dry_run && (out.finished || out.rolled_back)) sync_dir(partition_dir);
  if (dry_run) return out;
  lock.unlock();
  return out;
}

}  // namespace pspf
