// Scan, verify and repair of a whole partition (pspf-topics describe, verify and
// repair): every batch with its checksum, the indexes, the records as readers decode
// them, and what removed-keys says about offsets missing from the log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pspf/types.h"

namespace pspf {

// What a full scan of a partition found (pspf-topics describe/verify/repair).
struct PartitionScan {
  Offset start{0};
  Offset end{0};                  // of the valid data
  std::optional<Offset> durable;  // the published durable end (durable_end.h)
  // A cut back to this offset is noted and not finished (durable_end.h, 3): a process
  // was killed cutting records a failed sync covered; the next holder of the lock
  // finishes it.
  std::optional<Offset> cut_pending;
  uint64_t records = 0;
  uint64_t batches = 0;
  uint64_t bytes = 0;
  uint32_t segments = 0;
  Timestamp first_timestamp{0};
  Timestamp last_timestamp{0};
  // Damage: the first bad place found, if any.
  bool damaged = false;
  bool torn_tail = false;  // a torn tail only (harmless; the next writer cuts it)
  // The torn tail is a complete last batch whose checksum fails (BatchStatus::suspect):
  // possibly damaged acknowledged events; writers refuse it, repair quarantines it.
  // A torn or suspect tail below the durable end is damage instead (damaged set):
  // acknowledged events are in it.
  bool suspect_tail = false;
  std::string damage;            // "segment 000...0.log: bad batch at byte N: why"
  std::string damaged_segment;   // path
  uint64_t damage_position = 0;  // byte position in that segment
  uint64_t bytes_after_damage = 0;
  std::vector<std::string> index_problems;
  // repair_partition only: the quarantine files it moved what it cut to, in order.
  std::vector<std::string> quarantined;
  // Damage that cutting the log cannot mend (removed-keys disagrees with the log).
  std::vector<std::string> problems;
};

// Scans every batch of a partition (checksums included). With verify_indexes (a full
// verify), also: decodes every record as the readers do (a record that does not is
// damage at its batch), checks that offsets missing between segments were removed
// by a compaction (else: damage at the segment after the hole) and that only the
// last segment is empty, every index entry against the batches, and that removed-keys
// accounts for every offset missing from the log (problems).
PartitionScan scan_partition(const std::string& partition_dir, bool verify_indexes);

// Cuts a damaged partition back to its last good batch, destroying nothing: moves
// the later segments whole to quarantine files (last first), then moves the damaged
// segment's bytes from the damage position on to a quarantine file and cuts them,
// and rebuilds every index. A torn or suspect tail is cut the same way. Then lowers
// the durable end to the end of what is left: the offsets past it are given up, and
// the next append takes the first of them. Takes the partition lock. Returns what
// scan_partition found before the repair, with the quarantine files written.
PartitionScan repair_partition(const std::string& partition_dir);

}  // namespace pspf
