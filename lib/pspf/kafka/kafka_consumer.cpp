// The Kafka backend's group member (pspf-consume -b): a librdkafka consumer of a
// Kafka consumer group. The group's coordinator assigns the partitions (eager
// protocol, range then roundrobin, as Kafka's clients do); rebalances are served
// only when the command asks (rebalance()), so a partition never changes hands in
// the middle of a step. Each owned partition is read from its own queue, so the
// command can hand out partitions in turn as it does locally. Offsets are committed
// synchronously, only when asked, and only when they moved.
//
// A commit refused because the group is rebalancing (REBALANCE_IN_PROGRESS) is kept
// as the partition's pending offset, not dropped:
//   1. rebalance() sends it again, until the group records it (commits_pending()
//      holds -e's exit until then); refused for pspf.timeout.ms while the member
//      holds the partition, it stops the command (a group stuck rebalancing);
//   2. when the partition is given up, it is sent once more under the generation
//      that owned it (Kafka accepts that while the group prepares its rebalance);
//   3. refused there too, it is kept: if the same member gets the partition back,
//      reading goes on after it, not from the older committed offset, so the member
//      never hands out again what it delivered. Another owner starts from the
//      committed offset (a warning says so): events after it are handed out twice,
//      which no member can prevent once Kafka refused the commit.
// Pending offsets belong to one member id: a member that was dropped from the group
// (and could have been reset meanwhile) forgets them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "pspf/kafka/kafka_parts.h"
#include "pspf/log.h"

namespace pspf::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct MessageFree {
  void operator()(rd_kafka_message_t* m) const { rdkafka().rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageFree>;

// How often finished() asks the coordinator for the offsets of partitions owned by
// other members.
constexpr std::chrono::milliseconds kPeerCheckEvery{500};

bool lost_ownership(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
         err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
         err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR__STATE ||
         err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}

// Errors of a cluster that is changing or briefly unreachable: worth trying again.
bool transient(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS: return true;
    default: return false;
  }
}

class KafkaConsumer : public Consumer, public TransactionInput {
 public:
  KafkaConsumer(const Settings& s, std::string group, TopicConfig t, Position from,
                bool stop_at_start_end, bool commit)
      : s_(s),
        group_(std::move(group)),
        topic_(std::move(t)),
        from_(from),
        stop_at_end_(stop_at_start_end),
        commit_(commit) {
    const RdKafka& k = rdkafka();
    handle_ =
        make_handle(RD_KAFKA_CONSUMER, s_, {{"fetch.wait.max.ms", "50"}},
                    {{"group.id", group_},
                     {"enable.auto.commit", "false"},
                     {"enable.auto.offset.store", "false"},
                     {"enable.partition.eof", "false"},
                     {"auto.offset.reset", "earliest"}},
                    [this](rd_kafka_conf_t* conf) {
                      rdkafka().rd_kafka_conf_set_opaque(conf, this);
                      rdkafka().rd_kafka_conf_set_rebalance_cb(conf, &KafkaConsumer::on_rebalance);
                      rdkafka().rd_kafka_conf_set_error_cb(conf, &KafkaConsumer::on_error);
                    });
    k.rd_kafka_poll_set_consumer(handle_.get());
    main_queue_ = k.rd_kafka_queue_get_consumer(handle_.get());
    wake_.watch(main_queue_);
    parts_ = std::vector<Part>(static_cast<size_t>(topic_.partitions));
    if (stop_at_end_)
      for (int32_t p = 0; p < topic_.partitions; ++p) {
        OffsetBounds b = watermarks(handle_.get(), s_, topic_.name, PartitionId(p));
        parts_[static_cast<size_t>(p)].end = b.end.value;
        parts_[static_cast<size_t>(p)].start = b.start.value;
      }
    rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(1);
    k.rd_kafka_topic_partition_list_add(l, topic_.name.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = k.rd_kafka_subscribe(handle_.get(), l);
    k.rd_kafka_topic_partition_list_destroy(l);
    if (err)
      fail(s_, fmt::format("group {}: cannot subscribe to topic {}", group_, topic_.name), err);
  }

  ~KafkaConsumer() override {
    const RdKafka& k = rdkafka();
    for (Part& p : parts_) p.stash.clear();
    k.rd_kafka_consumer_close(handle_.get());  // leaves the group (revoke served inside)
    for (Part& p : parts_) drop_queue(p);
    k.rd_kafka_queue_destroy(main_queue_);
  }

  void on_warning(std::function<void(const std::string&)> sink) override {
    warn_ = std::move(sink);
  }

  RebalanceChange rebalance(const std::function<bool(PartitionId)>&) override {
    // Rebalance callbacks run inside this poll; a message that reached the main
    // queue before its partition got a queue of its own is kept for that partition.
    while (Message m{rdkafka().rd_kafka_consumer_poll(handle_.get(), 0)}) keep(std::move(m));
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    check_reachable();
    send_pending();
    RebalanceChange c;
    std::swap(c.gained, gained_);
    std::swap(c.released, released_);
    return c;
  }

  void follow_resets(const std::function<bool(PartitionId)>&) override {}

  bool commits_pending() const override {
    return std::any_of(parts_.begin(), parts_.end(),
                       [](const Part& p) { return p.owned && p.pending >= 0; });
  }

  std::vector<PartitionId> owned() const override {
    std::vector<PartitionId> out;
    for (size_t i = 0; i < parts_.size(); ++i)
      if (parts_[i].owned) out.push_back(PartitionId(static_cast<int32_t>(i)));
    return out;
  }

  const std::string& member_id() const override {
    if (char* id = rdkafka().rd_kafka_memberid(handle_.get())) {
      member_ = id;
      rdkafka().rd_kafka_mem_free(handle_.get(), id);
    }
    return member_;
  }

  size_t poll(PartitionId p, size_t max,
              const std::function<void(const RecordView&)>& fn) override {
    Part& part = parts_[static_cast<size_t>(p.value)];
    if (!part.owned) return 0;
    size_t n = 0;
    while (n < max) {
      if (part.stash.empty() && !take(part, max - n)) break;
      Message& m = part.stash.front();
      if (stop_at_end_ && m->offset >= part.end) break;  // kept: beyond this run's end
      if (m->offset >= part.position) {
        RecordView r;
        maker_.convert(m.get(), r);
        fn(r);
        ++n;
        part.position = m->offset + 1;
      }
      part.stash.pop_front();
    }
    return n;
  }

  Offset position(PartitionId p) const override {
    return Offset(parts_[static_cast<size_t>(p.value)].position);
  }
  Offset committed(PartitionId p) const override {
    return Offset(parts_[static_cast<size_t>(p.value)].committed);
  }

  void rewind(PartitionId p, Offset to) override {
    Part& part = parts_[static_cast<size_t>(p.value)];
    part.stash.clear();
    part.position = to.value;
    const RdKafka& k = rdkafka();
    rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(1);
    k.rd_kafka_topic_partition_list_add(l, topic_.name.c_str(), p.value)->offset = to.value;
    rd_kafka_error_t* e = k.rd_kafka_seek_partitions(handle_.get(), l, s_.timeout_ms);
    k.rd_kafka_topic_partition_list_destroy(l);
    if (e) {
      std::string why = k.rd_kafka_error_string(e);
      k.rd_kafka_error_destroy(e);
      throw Error(Errc::io, fmt::format("{}: {}: cannot go back to offset {}: {}",
                                        cluster_label(s_), Log::label(topic_, p), to.value, why));
    }
  }

  bool commit(PartitionId p, Offset next) override { return commit_all({{p, next}}).empty(); }

  // All of them in one offset commit request: one round trip to the group
  // coordinator, not one per partition.
  std::vector<PartitionId> commit_all(
      const std::vector<std::pair<PartitionId, Offset>>& next) override {
    std::vector<PartitionId> refused;
    std::vector<std::pair<PartitionId, Offset>> send;
    for (const auto& [p, o] : next) {
      Part& part = parts_[static_cast<size_t>(p.value)];
      if (!part.owned) {
        refused.push_back(p);
      } else if (o.value != part.committed) {
        if (commit_)
          send.emplace_back(p, o);
        else
          part.committed = o.value;
      }
    }
    if (send.empty()) return refused;
    const RdKafka& k = rdkafka();
    // A coordinator that moved or is briefly away is waited for, up to the timeout.
    // Committing an offset again is harmless, so a retry sends them all.
    auto deadline = Clock::now() + std::chrono::milliseconds(s_.timeout_ms);
    std::vector<rd_kafka_resp_err_t> errs(send.size());
    for (;;) {
      rd_kafka_topic_partition_list_t* l =
          k.rd_kafka_topic_partition_list_new(static_cast<int>(send.size()));
      for (const auto& [p, o] : send)
        k.rd_kafka_topic_partition_list_add(l, topic_.name.c_str(), p.value)->offset = o.value;
      rd_kafka_resp_err_t err = k.rd_kafka_commit(handle_.get(), l, 0);
      for (size_t i = 0; i < send.size(); ++i) {
        errs[i] = err;
        if (!err)
          if (const rd_kafka_topic_partition_t* tp =
                  k.rd_kafka_topic_partition_list_find(l, topic_.name.c_str(), send[i].first.value))
            errs[i] = tp->err;
      }
      k.rd_kafka_topic_partition_list_destroy(l);
      if (std::none_of(errs.begin(), errs.end(), transient) || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (size_t i = 0; i < send.size(); ++i) {
      auto [p, o] = send[i];
      Part& part = parts_[static_cast<size_t>(p.value)];
      if (errs[i] == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS) {
        keep_pending(part, o.value);  // sent again (see the top of this file)
      } else if (lost_ownership(errs[i])) {
        release(p);
        refused.push_back(p);
      } else if (errs[i]) {
        fail(s_,
             fmt::format("group {}: {}: cannot commit offset {}", group_, Log::label(topic_, p),
                         o.value),
             errs[i]);
      } else {
        part.committed = o.value;
        part.pending = -1;
      }
    }
    return refused;
  }

  std::optional<Offset> announced(PartitionId) const override { return std::nullopt; }
  bool announce(PartitionId p, Offset, Offset) override {
    return parts_[static_cast<size_t>(p.value)].owned;
  }

  void release(PartitionId p) override {
    Part& part = parts_[static_cast<size_t>(p.value)];
    if (!part.owned) return;
    part.owned = false;
    part.stash.clear();
  }

  bool at_end(PartitionId p) const override {
    const Part& part = parts_[static_cast<size_t>(p.value)];
    return stop_at_end_ && part.position >= part.end;
  }

  bool finished() override {
    if (!stop_at_end_ || !joined_) return false;
    bool others = false;
    for (size_t i = 0; i < parts_.size(); ++i) {
      const Part& p = parts_[i];
      if (p.end <= p.start) continue;  // nothing to read in it
      if (p.owned) {
        if (p.position < p.end) return false;
      } else {
        others = true;
      }
    }
    if (!others || !commit_) return true;
    // Partitions of other members: done when the group committed their end.
    if (Clock::now() - last_peer_check_ < kPeerCheckEvery) return false;
    last_peer_check_ = Clock::now();
    const RdKafka& k = rdkafka();
    rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(topic_.partitions);
    for (size_t i = 0; i < parts_.size(); ++i)
      if (!parts_[i].owned && parts_[i].end > parts_[i].start)
        k.rd_kafka_topic_partition_list_add(l, topic_.name.c_str(), static_cast<int32_t>(i));
    bool done = k.rd_kafka_committed(handle_.get(), l, s_.timeout_ms) == 0;
    for (int i = 0; done && i < l->cnt; ++i)
      done = l->elems[i].offset >= parts_[static_cast<size_t>(l->elems[i].partition)].end;
    k.rd_kafka_topic_partition_list_destroy(l);
    return done;
  }

  // --- TransactionInput (pspf-consume --exec --to)
  rd_kafka_consumer_group_metadata_t* group_metadata() const override {
    return rdkafka().rd_kafka_consumer_group_metadata(handle_.get());
  }
  const std::string& input_topic() const override { return topic_.name; }
  bool owns(PartitionId p) const override { return parts_[static_cast<size_t>(p.value)].owned; }
  void committed_in_transaction(PartitionId p, Offset next) override {
    parts_[static_cast<size_t>(p.value)].committed = next.value;
  }

  int wakeup_fd() const override { return wake_.read_fd(); }
  void drain_wakeups() override { wake_.drain(); }
  const TopicConfig& topic() const override { return topic_; }

 private:
  struct Part {
    bool owned = false;
    int64_t position = 0;
    int64_t committed = -1;
    int64_t pending = -1;               // refused while the group was rebalancing (top of file)
    Clock::time_point pending_since{};  // first refused (or the partition regained)
    int64_t start = 0;                  // with stop_at_end: the bounds when the run began
    int64_t end = 0;
    rd_kafka_queue_t* queue = nullptr;
    std::deque<Message> stash;
  };

  // librdkafka's errors about the cluster as a whole (served inside its polls): the
  // moment every broker went away is kept for check_reachable().
  static void on_error(rd_kafka_t*, int err, const char*, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && self->down_since_ == Clock::time_point{})
      self->down_since_ = Clock::now();
  }

  static void on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(opaque);
    try {
      if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        self->assigned(partitions);
      else
        self->revoked();
    } catch (...) {
      // Nothing may be thrown through librdkafka: the error stops the command at
      // the end of rebalance().
      self->error_ = std::current_exception();
    }
  }

  // Starts each assigned partition from the group's committed offset, or from
  // --from when it has none.
  void assigned(rd_kafka_topic_partition_list_t* partitions) {
    const RdKafka& k = rdkafka();
    rd_kafka_resp_err_t err = k.rd_kafka_committed(handle_.get(), partitions, s_.timeout_ms);
    if (err) fail(s_, fmt::format("group {}: cannot read its committed offsets", group_), err);
    if (pending_member_ != member_id())
      for (Part& part : parts_) part.pending = -1;  // another membership's (top of file)
    for (int i = 0; i < partitions->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = partitions->elems[i];
      PartitionId p(tp.partition);
      OffsetBounds b = watermarks(handle_.get(), s_, topic_.name, p);
      Part& part = parts_[static_cast<size_t>(tp.partition)];
      part.committed = tp.offset >= 0 ? tp.offset : -1;
      if (part.pending <= part.committed) part.pending = -1;
      part.pending_since = Clock::now();
      int64_t start = std::max(tp.offset, part.pending);  // after what this member delivered
      if (start < 0) {
        start = resolve(handle_.get(), s_, topic_.name, p, b, from_).value;
      } else if (start > b.end.value) {
        warn_(
            fmt::format("group {}: {}: committed offset {} is past the log end {} (events "
                        "lost after they were consumed?); going on from {}",
                        group_, Log::label(topic_, p), start, b.end.value, b.end.value));
        start = b.end.value;
      } else if (start < b.start.value) {
        start = b.start.value;  // removed by retention meanwhile
      }
      tp.offset = start;
      part.position = start;
    }
    err = k.rd_kafka_assign(handle_.get(), partitions);
    if (err) fail(s_, fmt::format("group {}: cannot take its partitions", group_), err);
    for (int i = 0; i < partitions->cnt; ++i) {
      Part& part = parts_[static_cast<size_t>(partitions->elems[i].partition)];
      part.queue = k.rd_kafka_queue_get_partition(handle_.get(), topic_.name.c_str(),
                                                  partitions->elems[i].partition);
      if (part.queue) {
        k.rd_kafka_queue_forward(part.queue, nullptr);  // keep its messages to itself
        wake_.watch(part.queue);
      }
      part.owned = true;
      part.stash.clear();
      gained_.push_back(PartitionId(partitions->elems[i].partition));
    }
    joined_ = true;
  }

  // Gives up every partition (eager protocol), first committing the pending offsets,
  // so that their next owner does not hand those events out again (top of file).
  void revoked() {
    const RdKafka& k = rdkafka();
    rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < parts_.size(); ++i)
      if (parts_[i].owned && parts_[i].pending >= 0)
        k.rd_kafka_topic_partition_list_add(l, topic_.name.c_str(), static_cast<int32_t>(i))
            ->offset = parts_[i].pending;
    rd_kafka_resp_err_t err =
        l->cnt > 0 ? k.rd_kafka_commit(handle_.get(), l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < l->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = l->elems[i];
      Part& part = parts_[static_cast<size_t>(tp.partition)];
      rd_kafka_resp_err_t e = err ? err : tp.err;
      if (!e) {
        part.committed = tp.offset;
        part.pending = -1;
      } else {
        warn_(
            fmt::format("group {}: {}: could not commit offset {} ({}); a member that takes the "
                        "partition over may hand out again the events from offset {}",
                        group_, Log::label(topic_, PartitionId(tp.partition)), tp.offset,
                        k.rd_kafka_err2str(e), std::max<int64_t>(part.committed, 0)));
      }
    }
    k.rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; i < parts_.size(); ++i) {
      Part& part = parts_[i];
      if (part.queue || part.owned) released_.push_back(PartitionId(static_cast<int32_t>(i)));
      part.owned = false;
      part.stash.clear();
      drop_queue(part);
    }
    rdkafka().rd_kafka_assign(handle_.get(), nullptr);
  }

  void keep_pending(Part& part, int64_t next) {
    if (part.pending < 0) part.pending_since = Clock::now();
    part.pending = next;
    pending_member_ = member_id();
  }

  // Sends the pending offsets of the owned partitions again, in one request.
  void send_pending() {
    std::vector<std::pair<PartitionId, Offset>> next;
    for (size_t i = 0; i < parts_.size(); ++i)
      if (parts_[i].owned && parts_[i].pending >= 0)
        next.emplace_back(PartitionId(static_cast<int32_t>(i)), Offset(parts_[i].pending));
    if (next.empty()) return;
    for (PartitionId p : commit_all(next)) released_.push_back(p);  // taken over
    auto limit = std::chrono::milliseconds(s_.timeout_ms);
    for (size_t i = 0; i < parts_.size(); ++i) {
      const Part& part = parts_[i];
      if (part.owned && part.pending >= 0 && Clock::now() - part.pending_since >= limit)
        throw Error(Errc::io,
                    fmt::format("{}: group {}: {}: the group refused to commit offset {} for {} "
                                "ms (rebalance in progress); its next owner hands out again the "
                                "events from offset {}",
                                cluster_label(s_), group_,
                                Log::label(topic_, PartitionId(static_cast<int32_t>(i))),
                                part.pending, s_.timeout_ms, std::max<int64_t>(part.committed, 0)));
    }
  }

  void drop_queue(Part& p) {
    if (p.queue) rdkafka().rd_kafka_queue_destroy(p.queue);
    p.queue = nullptr;
  }

  // Every broker has been unreachable for the timeout (librdkafka said so and a
  // metadata request now fails too): the command stops instead of waiting forever.
  void check_reachable() {
    if (down_since_ == Clock::time_point{} ||
        Clock::now() - down_since_ < std::chrono::milliseconds(s_.timeout_ms))
      return;
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rdkafka().rd_kafka_metadata(handle_.get(), 0, nullptr, &md, 2000);
    if (!err) {
      rdkafka().rd_kafka_metadata_destroy(md);
      down_since_ = {};  // back
      return;
    }
    throw Error(Errc::io,
                fmt::format("{}: group {}: no broker answered for {} ms: {}", cluster_label(s_),
                            group_, s_.timeout_ms, rdkafka().rd_kafka_err2str(err)));
  }

  // A message from the main queue: kept for its partition.
  void keep(Message m) {
    if (m->err) {
      note_error(m.get());
      return;
    }
    if (m->partition < 0 || m->partition >= topic_.partitions) return;
    Part& part = parts_[static_cast<size_t>(m->partition)];
    if (part.owned) part.stash.push_back(std::move(m));
  }

  // Moves up to `max` messages of the partition's queue into its stash; false when
  // none was waiting.
  bool take(Part& part, size_t max) {
    if (!part.queue) return false;
    rd_kafka_message_t* batch[256];
    ssize_t got =
        rdkafka().rd_kafka_consume_batch_queue(part.queue, 0, batch, std::min<size_t>(max, 256));
    bool any = false;
    for (ssize_t i = 0; i < got; ++i) {
      Message m(batch[i]);
      if (m->err) {
        note_error(m.get());
        continue;
      }
      part.stash.push_back(std::move(m));
      any = true;
    }
    return any;
  }

  // A consumer error message: transient ones are librdkafka's to retry; others stop
  // the command.
  void note_error(const rd_kafka_message_t* m) {
    switch (m->err) {
      case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      case RD_KAFKA_RESP_ERR__TRANSPORT:
      case RD_KAFKA_RESP_ERR__TIMED_OUT: return;
      case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        if (down_since_ == Clock::time_point{}) down_since_ = Clock::now();
        return;
      default: fail(s_, fmt::format("group {}: topic {}", group_, topic_.name), m->err);
    }
  }

  Settings s_;
  std::string group_;
  TopicConfig topic_;
  Position from_;
  bool stop_at_end_;
  bool commit_;
  Handle handle_;
  rd_kafka_queue_t* main_queue_ = nullptr;
  WakePipe wake_;
  std::vector<Part> parts_;
  std::vector<PartitionId> gained_, released_;
  bool joined_ = false;
  Clock::time_point last_peer_check_{};
  Clock::time_point down_since_{};  // when librdkafka said every broker was down
  RecordMaker maker_;
  mutable std::string member_;
  std::string pending_member_;  // the member id under which the pending offsets were kept
  std::exception_ptr error_;
  std::function<void(const std::string&)> warn_ = [](const std::string& m) {
    std::fprintf(stderr, "%s\n", m.c_str());
  };
};

}  // namespace

std::unique_ptr<Consumer> make_consumer(const Settings& s, const std::string& group,
                                        const TopicConfig& t, Position from, bool stop_at_start_end,
                                        bool commit) {
  return std::make_unique<KafkaConsumer>(s, group, t, from, stop_at_start_end, commit);
}

Handle group_admin_handle(const Settings& s, const std::string& group) {
  return make_handle(RD_KAFKA_CONSUMER, s, {},
                     {{"group.id", group}, {"enable.auto.commit", "false"}});
}

}  // namespace pspf::kafka
