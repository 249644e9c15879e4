#include "pspf/latest.h"

#include "pspf/durable_end.h"
#include "pspf/key_map.h"
#include "pspf/local_log.h"
#include "pspf/paths.h"

namespace pspf {

namespace {

// Calls fn for every record of the partition below `end` (and not after `as_of`).
template <typename Fn>
void for_each_record(PartitionReader& reader, Offset end, const std::optional<Timestamp>& as_of,
                     Fn fn) {
  reader.seek(Offset(0));
  BatchRef b;
  RecordView r;
  while (reader.next(b)) {
    if (b.header.base_offset >= end) return;
    // Append times never decrease along a partition: nothing later is older.
    if (as_of && b.header.first_timestamp > *as_of) return;
    RecordIterator it(b.data, b.header);
    while (it.next(r)) {
      if (r.offset >= end || (as_of && r.timestamp > *as_of)) return;
      fn(r);
    }
  }
}

bool is_tombstone(const RecordView& r) { return msgpack_is_nil(r.value); }

}  // namespace

void for_each_latest(const LocalLog& log, const TopicConfig& t, const LatestOptions& o,
                     const std::function<void(PartitionId, const RecordView&)>& fn) {
  std::vector<PartitionId> parts = o.partitions;
  if (parts.empty())
    for (int32_t p = 0; p < t.partitions; ++p) parts.push_back(PartitionId(p));
  for (PartitionId p : parts) {
    // The mark first: it never passes records the log's end, read after it, misses.
    std::optional<Offset> durable = read_durable_end(paths::partition_dir(log.dir(), t.name, p));
    auto reader = log.reader(t, p);
    Offset end = reader->log_end();
    check_durable_end(durable, end, Log::label(t, p));
    KeyMap latest;
    for_each_record(*reader, end, o.as_of, [&](const RecordView& r) {
      if (r.has_key) latest.put(r.key, r.offset);
    });
    for_each_record(*reader, end, o.as_of, [&](const RecordView& r) {
      if (r.has_key && !is_tombstone(r) && latest.get(r.key) == r.offset.value) fn(p, r);
    });
  }
}

}  // namespace pspf
