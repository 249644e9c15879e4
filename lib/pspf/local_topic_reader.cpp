#include "pspf/local_topic_reader.h"

#include <algorithm>
#include <climits>

#include "pspf/durable_end.h"
#include "pspf/murmur2.h"
#include "pspf/paths.h"

namespace pspf {

namespace {
// Order of two stream heads: by timestamp, then by stream position.
bool before(int64_t ts, size_t index, int64_t other_ts, size_t other_index) {
  return ts < other_ts || (ts == other_ts && index < other_index);
}
}  // namespace

struct LocalTopicReader::Stream {
  PartitionId partition;
  std::unique_ptr<PartitionReader> reader;
  BatchRef batch;
  std::optional<RecordIterator> records;
  RecordView cur;
  bool has_cur = false;
  bool done = false;
  Offset start{0};
  Offset end{INT64_MAX};
  int64_t start_ts = INT64_MIN;
  int64_t until_ts = INT64_MAX;
};

LocalTopicReader::LocalTopicReader(const LocalLog& log, TopicConfig topic, ReadOptions o)
    : topic_(std::move(topic)), merge_(o.merge), follow_(o.follow), key_(o.key) {
  std::vector<PartitionId> parts = o.partitions;
  if (o.key) parts = {partition_for_key(*o.key, topic_.partitions)};
  if (parts.empty())
    for (int32_t p = 0; p < topic_.partitions; ++p) parts.push_back(PartitionId(p));
  for (PartitionId p : parts) {
    auto s = std::make_unique<Stream>();
    s->partition = p;
    s->reader = log.reader(topic_, p);
    dirs_.push_back(paths::partition_dir(log.dir(), topic_.name, p));
    // Read first: it never passes records a later look at the log misses.
    std::optional<Offset> durable = read_durable_end(dirs_.back());
    Offset log_end = s->reader->log_end();
    Offset log_start = s->reader->log_start();
    if (!o.follow) s->end = log_end;
    // Times stay filters on the records' times: following, records not written yet
    // must be judged by their time too.
    if (o.from.kind == Position::Kind::time)
      s->start_ts = o.from.value;
    else
      s->start = offset_of_position(*s->reader, o.from, log_start, log_end);
    // Acknowledged records past the valid data are damage, not the end: a range
    // that reaches them fails (durable_end.h, 5).
    Offset until = Offset(INT64_MAX);
    if (o.until && o.until->kind == Position::Kind::time)
      s->until_ts = o.until->value;
    else if (o.until)
      until = offset_of_position(*s->reader, *o.until, log_start, log_end);
    s->end = std::min(s->end, until);
    if (until > log_end) check_durable_end(durable, log_end, Log::label(topic_, p));
    if (o.from.kind == Position::Kind::time)
      s->reader->seek_time(Timestamp(o.from.value));
    else
      s->reader->seek(s->start);
    if (s->start >= s->end) s->done = true;
    streams_.push_back(std::move(s));
  }
  if (o.follow) watcher_.emplace(dirs_);
}

LocalTopicReader::~LocalTopicReader() = default;

bool LocalTopicReader::advance(Stream& s) {
  s.has_cur = false;
  while (!s.done) {
    if (s.records && s.records->next(s.cur)) {
      if (s.cur.offset >= s.end || s.cur.timestamp.value >= s.until_ts) {
        s.done = true;
        return false;
      }
      if (s.cur.offset < s.start || s.cur.timestamp.value < s.start_ts) continue;
      if (key_ && (!s.cur.has_key || s.cur.key != *key_)) continue;
      s.has_cur = true;
      return true;
    }
    s.records.reset();
    if (!s.reader->next(s.batch)) {
      // Reading a snapshot, the data up to the end bound was all there when we
      // started: it stops short of the bound only at a compaction gap. Following,
      // more may come.
      if (!follow_) s.done = true;
      return false;
    }
    s.records.emplace(s.batch.data, s.batch.header);
  }
  return false;
}

bool LocalTopicReader::next(PartitionId& p, RecordView& r) {
  if (!merge_) {
    for (auto& s : streams_) {
      if (s->done) continue;
      if (advance(*s)) {
        p = s->partition;
        r = s->cur;
        return true;
      }
      if (!s->done) return false;  // partition order: wait for this one to finish
    }
    return false;
  }
  // Merged: every stream holds its next record; the oldest goes first (ties: the
  // earlier stream). While the stream last chosen stays ahead of the others' next
  // records (one batch shares one timestamp), keep taking from it without looking
  // at the others again.
  if (current_ < streams_.size()) {
    Stream& s = *streams_[current_];
    if (advance(s) && before(s.cur.timestamp.value, current_, bound_ts_, bound_index_))
      return take(s, p, r);
  }
  for (auto& s : streams_)
    if (!s->has_cur && !s->done) advance(*s);
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < streams_.size(); ++i)
    if (streams_[i]->has_cur &&
        (best == SIZE_MAX || streams_[i]->cur.timestamp < streams_[best]->cur.timestamp))
      best = i;
  current_ = best;
  if (best == SIZE_MAX) return false;
  bound_ts_ = INT64_MAX;
  bound_index_ = SIZE_MAX;
  for (size_t i = 0; i < streams_.size(); ++i)
    if (i != best && streams_[i]->has_cur &&
        before(streams_[i]->cur.timestamp.value, i, bound_ts_, bound_index_)) {
      bound_ts_ = streams_[i]->cur.timestamp.value;
      bound_index_ = i;
    }
  return take(*streams_[best], p, r);
}

bool LocalTopicReader::take(Stream& s, PartitionId& p, RecordView& r) {
  s.has_cur = false;  // consumed: the next call advances it
  p = s.partition;
  r = s.cur;
  return true;
}

bool LocalTopicReader::finished() const {
  return std::all_of(streams_.begin(), streams_.end(), [](const auto& s) { return s->done; });
}

bool LocalTopicReader::wait(int timeout_ms) {
  if (!watcher_) watcher_.emplace(dirs_);
  return watcher_->wait(timeout_ms);
}

}  // namespace pspf
