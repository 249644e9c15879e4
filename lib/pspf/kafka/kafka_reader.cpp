// The Kafka backend's reader (pspf-replay -b): a consumer without a group, assigned
// the partitions of the range at their start offsets. The end of each partition is
// fixed when the reader is made (the high watermark then, or --until), as in the
// local log; the merge by timestamp holds one message of each partition at a time.
#include <poll.h>

#include <chrono>
#include <deque>
#include <limits>

#include <fmt/format.h>

#include "pspf/kafka/kafka_parts.h"
#include "pspf/log.h"
#include "pspf/murmur2.h"

namespace pspf::kafka {
namespace {

using Clock = std::chrono::steady_clock;

// Messages taken from a partition's queue at once, when the reader has none of
// that partition left. The rest wait in librdkafka's queue of the partition, which
// stops fetching while it is full (queued.max.messages.kbytes): memory stays flat
// in the topic's size, whichever partition the merge is waiting for.
constexpr size_t kTakeAtOnce = 1000;

struct MessageFree {
  void operator()(rd_kafka_message_t* m) const { rdkafka().rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageFree>;

class KafkaReader : public TopicReader {
 public:
  KafkaReader(const Settings& s, TopicConfig t, ReadOptions o)
      : s_(s), topic_(std::move(t)), o_(std::move(o)) {
    handle_ = make_handle(RD_KAFKA_CONSUMER, s_, {{"fetch.wait.max.ms", "50"}},
                          // librdkafka wants a group even for a plain assign; this
                          // reader never joins it and never commits.
                          {{"group.id", "pspf-replay"},
                           {"enable.auto.commit", "false"},
                           {"enable.auto.offset.store", "false"},
                           {"enable.partition.eof", "true"}});
    const RdKafka& k = rdkafka();
    std::vector<PartitionId> ps = o_.partitions;
    if (o_.key) ps = {partition_for_key(*o_.key, topic_.partitions)};
    if (ps.empty())
      for (int32_t p = 0; p < topic_.partitions; ++p) ps.push_back(PartitionId(p));
    parts_ = std::vector<Part>(static_cast<size_t>(topic_.partitions));
    rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(16);
    for (PartitionId p : ps) {
      Part& part = parts_[static_cast<size_t>(p.value)];
      part.wanted = true;
      OffsetBounds b = watermarks(handle_.get(), s_, topic_.name, p);
      Offset start = resolve(handle_.get(), s_, topic_.name, p, b, o_.from);
      part.end = std::numeric_limits<int64_t>::max();
      if (o_.until)
        part.end = resolve(handle_.get(), s_, topic_.name, p, b, *o_.until).value;
      else if (!o_.follow)
        part.end = b.end.value;
      part.done = start.value >= part.end;
      if (!part.done)
        k.rd_kafka_topic_partition_list_add(l, topic_.name.c_str(), p.value)->offset = start.value;
    }
    rd_kafka_resp_err_t err = k.rd_kafka_assign(handle_.get(), l);
    k.rd_kafka_topic_partition_list_destroy(l);
    if (err) fail(s_, fmt::format("topic {}: cannot start reading", topic_.name), err);
    // Each partition's messages stay in a queue of its own until the reader needs
    // them; the wake pipe says when one of them gets some.
    for (size_t i = 0; i < parts_.size(); ++i) {
      Part& part = parts_[i];
      if (!part.wanted || part.done) continue;
      part.queue = k.rd_kafka_queue_get_partition(handle_.get(), topic_.name.c_str(),
                                                  static_cast<int32_t>(i));
      if (!part.queue) continue;
      k.rd_kafka_queue_forward(part.queue, nullptr);
      wake_.watch(part.queue);
    }
  }

  ~KafkaReader() override {
    const RdKafka& k = rdkafka();
    current_.reset();
    for (Part& p : parts_) {
      p.buffered.clear();
      if (p.queue) k.rd_kafka_queue_destroy(p.queue);
    }
    k.rd_kafka_consumer_close(handle_.get());
  }

  bool next(PartitionId& p, RecordView& r) override {
    current_.reset();
    auto quiet_since = Clock::now();
    for (;;) {
      int32_t pick = choose();
      if (pick >= 0) {
        Part& part = parts_[static_cast<size_t>(pick)];
        current_ = std::move(part.buffered.front());
        part.buffered.pop_front();
        // At the end bound, or past the last message before it (compaction gaps).
        if (current_->offset + 1 >= part.end ||
            (part.buffered.empty() && part.caught_up && part.eof_at >= part.end))
          finish(part);
        if (current_->offset >= part.end) continue;
        if (o_.key && (!current_->key || std::string_view(static_cast<const char*>(current_->key),
                                                          current_->key_len) != *o_.key))
          continue;
        p = PartitionId(pick);
        maker_.convert(current_.get(), r);
        return true;
      }
      if (finished()) return false;
      if (o_.follow && !waiting_for_more()) return false;
      if (fill(100)) {
        quiet_since = Clock::now();
      } else if (Clock::now() - quiet_since > std::chrono::milliseconds(s_.timeout_ms)) {
        throw Error(Errc::io, fmt::format("{}: topic {}: nothing received in {} ms{}",
                                          cluster_label(s_), topic_.name, s_.timeout_ms,
                                          last_error_.empty() ? "" : " (" + last_error_ + ")"));
      }
    }
  }

  bool finished() const override {
    for (const Part& p : parts_)
      if (p.wanted && !p.done) return false;
    return true;
  }

  bool wait(int timeout_ms) override {
    for (const Part& p : parts_)
      if (!p.buffered.empty()) return true;
    return fill(timeout_ms);
  }

  const TopicConfig& topic() const override { return topic_; }

 private:
  struct Part {
    bool wanted = false;
    bool done = false;
    bool caught_up = false;  // reached the partition's end as the cluster knows it
    rd_kafka_queue_t* queue = nullptr;
    int64_t eof_at = -1;  // where the cluster last said the partition ends
    int64_t end = 0;      // exclusive
    std::deque<Message> buffered;
  };

  // The partition whose next message comes next, or -1 when that is not known yet.
  // Merged: the oldest head of all partitions still reading (ties: the lower
  // partition), once every one of them has a head (or, following, has caught up).
  int32_t choose() const {
    int32_t best = -1;
    int64_t best_ts = 0;
    for (size_t i = 0; i < parts_.size(); ++i) {
      const Part& p = parts_[i];
      if (!p.wanted || p.done) continue;
      if (p.buffered.empty()) {
        if (o_.merge && !(o_.follow && p.caught_up)) return -1;
        if (!o_.merge && !o_.follow) return best;  // partition by partition
        continue;
      }
      if (!o_.merge) return static_cast<int32_t>(i);
      rd_kafka_timestamp_type_t type;
      int64_t ts = rdkafka().rd_kafka_message_timestamp(p.buffered.front().get(), &type);
      if (best < 0 || ts < best_ts) {
        best = static_cast<int32_t>(i);
        best_ts = ts;
      }
    }
    return best;
  }

  // Following: whether some partition may still hand out something now.
  bool waiting_for_more() const {
    for (const Part& p : parts_)
      if (p.wanted && !p.done && !p.caught_up) return true;
    return false;
  }

  void finish(Part& p) {
    p.done = true;
    p.buffered.clear();
  }

  // Takes messages of the partitions the reader has none of, waiting up to ms for
  // some to come; returns whether anything came.
  bool fill(int ms) {
    const RdKafka& k = rdkafka();
    bool any = false;
    // Errors, and messages fetched before their partition's queue was set apart.
    while (Message m{k.rd_kafka_consumer_poll(handle_.get(), 0)}) any = take(std::move(m)) || any;
    rd_kafka_message_t* batch[kTakeAtOnce];
    for (Part& part : parts_) {
      if (!part.wanted || part.done || !part.queue || !part.buffered.empty()) continue;
      ssize_t got = k.rd_kafka_consume_batch_queue(part.queue, 0, batch, kTakeAtOnce);
      for (ssize_t i = 0; i < got; ++i) any = take(Message(batch[i])) || any;
    }
    if (any || ms <= 0) return any;
    struct pollfd fd {
      wake_.read_fd(), POLLIN, 0
    };
    if (::poll(&fd, 1, ms) > 0) wake_.drain();
    return false;
  }

  // Keeps a message (or end-of-partition event) for its partition; false for an
  // error librdkafka recovers from by itself.
  bool take(Message m) {
    const RdKafka& k = rdkafka();
    bool ours = m->rkt && m->partition >= 0 && m->partition < topic_.partitions;
    Part* part = ours ? &parts_[static_cast<size_t>(m->partition)] : nullptr;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (part) {
        // Said after the messages before it, which may still wait for their turn.
        part->caught_up = true;
        part->eof_at = m->offset;
        if (part->buffered.empty() && m->offset >= part->end) finish(*part);
      }
      return true;
    }
    if (m->err) {
      last_error_ = k.rd_kafka_message_errstr(m.get());
      if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
          m->err == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return false;  // librdkafka reconnects by itself
      fail(s_, fmt::format("topic {}", topic_.name), m->err);
    }
    if (!part || part->done) return true;
    part->caught_up = false;
    part->buffered.push_back(std::move(m));
    return true;
  }

  Settings s_;
  TopicConfig topic_;
  ReadOptions o_;
  Handle handle_;
  std::vector<Part> parts_;
  WakePipe wake_;
  Message current_;
  RecordMaker maker_;
  std::string last_error_;
};

}  // namespace

std::unique_ptr<TopicReader> make_reader(const Settings& s, const TopicConfig& t, ReadOptions o) {
  return std::make_unique<KafkaReader>(s, t, std::move(o));
}

}  // namespace pspf::kafka
