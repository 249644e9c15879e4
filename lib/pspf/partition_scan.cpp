#include "pspf/partition_scan.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "pspf/batch.h"
#include "pspf/durable_end.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/partition.h"
#include "pspf/paths.h"
#include "pspf/quarantine.h"
#include "pspf/removed_keys.h"
#include "pspf/segment.h"
#include "pspf/segment_index.h"
#include "pspf/segment_writer.h"

namespace pspf {

namespace {

// Whether compaction can have left offsets [from, to) between the segment at `prev`
// and the next one at `next` without a record: an applied swap record of a segment
// in [prev, next) (its last batches dropped) or delete record (a segment emptied
// and removed), or a totals record (per-segment records merged: nothing to say).
// `records` is the removed-keys file as read so far; it is read again when it does
// not explain the gap (a compaction may have committed since). nullopt when the
// file is damaged (reported by the count check instead). Throws Error(io).
std::optional<bool> gap_explained(const std::string& dir, Offset prev, Offset next,
                                  std::optional<std::vector<RemovalRecord>>& records) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!records || attempt > 0) {
      try {
        records = read_removal_records(dir);
      } catch (const Error& e) {
        if (e.code() != Errc::corrupt) throw;  // an I/O error is no verdict
        return std::nullopt;
      }
    }
    for (const auto& r : *records)
      if (r.kind == RemovalKind::totals ||
          (r.base >= prev && r.base < next && removal_applied(dir, r)))
        return true;
  }
  return false;
}

// Why a record of a checksum-valid batch cannot be read back as the readers do
// (bad envelope, offsets, value or headers), or nullopt.
std::optional<std::string> batch_record_problem(const char* data, const BatchHeader& h,
                                                Buffer& scratch) {
  try {
    RecordIterator it(data, h);
    RecordView r;
    while (it.next(r)) {
      if (auto why = record_problem(r, scratch))
        return fmt::format("record at offset {} has {}", r.offset.value, *why);
    }
    batch_producer_mark(data, h);
  } catch (const Error& e) {
    return e.what();
  }
  return std::nullopt;
}

}  // namespace

PartitionScan scan_partition(const std::string& partition_dir, bool verify_indexes) {
  PartitionScan out;
  // Read before the segments: it only grows, and only over records already written,
  // so a writer appending meanwhile never puts it past what the scan sees.
  out.durable = read_durable_end(partition_dir);
  out.cut_pending = read_cut_pending(partition_dir);
  auto segs = list_segments(partition_dir);
  out.segments = static_cast<uint32_t>(segs.size());
  if (!segs.empty()) out.start = out.end = segs.front();
  bool first_batch = true;
  std::optional<std::vector<RemovalRecord>> removals;
  std::optional<Offset> prev_base;  // the last segment read
  Buffer scratch;
  auto set_damage = [&](const std::string& path, uint64_t pos, uint64_t size, std::string why) {
    out.damaged = true;
    out.damage = fmt::format("segment {}: {}", path, why);
    out.damaged_segment = path;
    out.damage_position = pos;
    out.bytes_after_damage = size - pos;
  };
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string path = paths::segment_file(partition_dir, segs[i], paths::kLogExt);
    Fd fd = open_file_if_exists(path, O_RDONLY);
    if (!fd.valid() && i + 1 < segs.size()) {
      out.segments--;  // removed by a compaction since the listing
      continue;
    }
    if (!fd.valid()) fd = open_file(path, O_RDONLY);
    uint64_t size = file_size(fd.get(), path);
    out.bytes += size;
    if (out.damaged) {
      out.bytes_after_damage += size;
      continue;
    }
    bool last = i + 1 == segs.size();
    // Offsets are dense at append: a hole between segments is either compaction's
    // doing (removed-keys says so) or a lost segment.
    if (verify_indexes && prev_base && segs[i] > out.end &&
        gap_explained(partition_dir, *prev_base, segs[i], removals) == false) {
      set_damage(path, 0, size,
                 fmt::format("offsets {}..{} are missing before it: the segment before ends at "
                             "offset {} and no compaction removed them (a segment lost?)",
                             out.end.value, segs[i].value - 1, out.end.value));
      continue;
    }
    prev_base = segs[i];
    SegmentReader r(fd.get(), path, 0);
    r.expect_offset_at_least(std::max(segs[i], out.end));
    std::vector<std::pair<uint64_t, BatchHeader>> batches;
    const char* data;
    BatchHeader h;
    BatchStatus s;
    uint64_t batches_here = 0;
    while ((s = r.next(data, h)) == BatchStatus::ok) {
      if (verify_indexes) {
        if (auto why = batch_record_problem(data, h, scratch)) {
          set_damage(path, r.batch_position(), size,
                     fmt::format("bad batch at byte {}: {}", r.batch_position(), *why));
          break;
        }
      }
      if (first_batch) {
        out.start = h.base_offset;
        out.first_timestamp = h.first_timestamp;
        first_batch = false;
      }
      out.records += h.record_count;
      out.batches++;
      batches_here++;
      out.end = h.next_offset();
      out.last_timestamp = h.max_timestamp;
      if (verify_indexes) batches.emplace_back(r.batch_position(), h);
    }
    // The last segment's base is the next offset when it is empty (compaction may have
    // removed the batches before it).
    if (last && !out.damaged) out.end = std::max(out.end, segs[i]);
    if (out.damaged) {
      // a record that does not decode: reported above
    } else if ((s == BatchStatus::torn || s == BatchStatus::suspect) && last) {
      out.torn_tail = true;
      out.suspect_tail = s == BatchStatus::suspect;
      out.damage =
          fmt::format("segment {}: {}{}", path, out.suspect_tail ? "" : "torn tail: ", r.reason());
      out.damaged_segment = path;
      out.damage_position = r.position();
      out.bytes_after_damage = size - r.position();
    } else if (s != BatchStatus::end) {
      set_damage(path, r.position(), size,
                 r.reason() + (s == BatchStatus::torn ? " (torn batch in a closed segment)" : ""));
    } else if (verify_indexes && batches_here == 0 && !last) {
      // Only the active segment is ever empty: compaction removes a segment it empties.
      set_damage(path, 0, size, "empty, but it is not the last segment (its records are lost)");
    }
    if (!verify_indexes) continue;
    SegmentIndex idx(partition_dir, segs[i]);
    if (idx.damaged_index_bytes() && !out.damaged)
      out.index_problems.push_back(
          fmt::format("{}: {} bytes of malformed entries (out of order, or a partial entry)",
                      paths::segment_file(partition_dir, segs[i], paths::kIndexExt),
                      idx.damaged_index_bytes()));
    if (idx.damaged_time_bytes() && !out.damaged)
      out.index_problems.push_back(
          fmt::format("{}: {} bytes of malformed entries (out of order, or a partial entry)",
                      paths::segment_file(partition_dir, segs[i], paths::kTimeIndexExt),
                      idx.damaged_time_bytes()));
    auto find = [&](uint64_t pos) {
      auto it = std::lower_bound(batches.begin(), batches.end(), pos,
                                 [](const auto& b, uint64_t p) { return b.first < p; });
      return it != batches.end() && it->first == pos ? &it->second : nullptr;
    };
    // Entries past damage are not worth reporting: repair rebuilds them anyway.
    uint64_t checked_end = out.damaged || out.torn_tail ? out.damage_position : UINT64_MAX;
    for (size_t k = 0; k < idx.entries().size(); ++k) {
      const IndexEntry& e = idx.entries()[k];
      if (e.position >= checked_end) break;
      const BatchHeader* bh = find(e.position);
      if (!bh || bh->base_offset.value != segs[i].value + e.rel_offset)
        out.index_problems.push_back(fmt::format(
            "{}: entry {} (offset {}, byte {}) does not point at a batch with that offset",
            paths::segment_file(partition_dir, segs[i], paths::kIndexExt), k,
            segs[i].value + e.rel_offset, e.position));
    }
    for (size_t k = 0; k < idx.time_entries().size(); ++k) {
      const TimeEntry& e = idx.time_entries()[k];
      if (checked_end != UINT64_MAX &&
          (batches.empty() ||
           segs[i].value + e.rel_offset >= batches.back().second.next_offset().value))
        break;
      auto it = std::find_if(batches.begin(), batches.end(), [&](const auto& b) {
        return b.second.base_offset.value == segs[i].value + e.rel_offset;
      });
      if (it == batches.end() || it->second.first_timestamp.value != e.timestamp)
        out.index_problems.push_back(
            fmt::format("{}: entry {} (time {}, offset {}) does not match a batch",
                        paths::segment_file(partition_dir, segs[i], paths::kTimeIndexExt), k,
                        e.timestamp, segs[i].value + e.rel_offset));
    }
  }
  // Acknowledged records past the valid data (durable_end.h, 5) are damage, whether
  // the tail is a bad batch or nothing at all.
  if (!out.damaged && out.durable && *out.durable > out.end) {
    std::string lost = fmt::format("offsets {} to {} were acknowledged (the durable end is {})",
                                   out.end.value, out.durable->value - 1, out.durable->value);
    out.damaged = true;
    if (out.torn_tail) {
      out.damage += ": " + lost;
    } else {
      std::string path = segs.empty()
                             ? partition_dir
                             : paths::segment_file(partition_dir, segs.back(), paths::kLogExt);
      out.damage =
          fmt::format("{} {}: the log ends at offset {}, but {}: they are missing",
                      segs.empty() ? "partition directory" : "segment", path, out.end.value, lost);
      out.damaged_segment = path;
      out.damage_position = out.bytes_after_damage = 0;
      Fd fd = segs.empty() ? Fd() : open_file_if_exists(path, O_RDONLY);
      if (fd.valid()) out.damage_position = file_size(fd.get(), path);
    }
    out.torn_tail = out.suspect_tail = false;
  }
  // Key versions are rebuilt from the log and removed-keys: the offsets missing from
  // the log must all be counted there (see removal_shortfall), and the file must read
  // whole even when none are missing (the key versions refuse a damaged one).
  if (verify_indexes && !out.damaged && !segs.empty()) {
    uint64_t span = static_cast<uint64_t>(out.end.value - segs.front().value);
    uint64_t missing = span > out.records ? span - out.records : 0;
    try {
      if (missing == 0) read_removal_records(partition_dir);
      if (auto why = removal_shortfall(partition_dir, segs.front(), out.end, missing))
        out.problems.push_back(*why);
    } catch (const Error& e) {
      if (e.code() != Errc::corrupt) throw;  // an I/O error is a failure, not a finding
      out.problems.push_back(e.what());
    }
  }
  return out;
}

PartitionScan repair_partition(const std::string& partition_dir) {
  FileLock lock(paths::partition_lock(partition_dir));
  lock.lock();
  finish_noted_cut(partition_dir, lock.fd(), lock.path());  // before the scan: it is no damage
  PartitionScan before = scan_partition(partition_dir, true);
  auto segs = list_segments(partition_dir);
  bool cut = before.damaged || before.torn_tail;
  std::vector<Offset> kept;
  std::vector<std::string> quarantined;
  // Later segments follow the damage: they go whole to quarantine files (the report
  // said so first), the last one first, so that a repair that dies half way leaves
  // the damage in place and is simply run again.
  for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
    if (cut && paths::segment_file(partition_dir, *it, paths::kLogExt) > before.damaged_segment)
      quarantined.push_back(quarantine_segment(partition_dir, *it));
    else
      kept.insert(kept.begin(), *it);
  }
  std::reverse(quarantined.begin(), quarantined.end());
  for (Offset base : kept) {
    std::string path = paths::segment_file(partition_dir, base, paths::kLogExt);
    Fd fd = open_file(path, O_RDWR);
    if (cut && path == before.damaged_segment && file_size(fd.get(), path) > before.damage_position)
      quarantined.insert(quarantined.begin(), cut_to_quarantine(partition_dir, base, fd.get(), path,
                                                                before.damage_position));
    // Rebuild the indexes of every segment from the log: they are caches.
    SegmentIndex idx(partition_dir, base);
    idx.clear();
    SegmentReader r(fd.get(), path, 0);
    const char* data;
    BatchHeader h;
    while (r.next(data, h) == BatchStatus::ok)
      idx.note_batch(r.batch_position(), h.base_offset, h.first_timestamp);
  }
  sync_dir(partition_dir);
  // The records past the cut are given up (durable_end.h, 5): writers go on from the
  // valid end only once the mark says so.
  Offset end = PartitionReader(partition_dir, partition_dir).log_end();
  if (std::optional<Offset> mark = read_durable_end(lock.fd(), lock.path()); mark && *mark > end)
    write_durable_end(lock.fd(), end, lock.path());
  before.quarantined = std::move(quarantined);
  return before;
}

}  // namespace pspf
