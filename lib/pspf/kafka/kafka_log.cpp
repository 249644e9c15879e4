#include "pspf/kafka/kafka_log.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "pspf/consumer.h"
#include "pspf/error.h"
#include "pspf/kafka/kafka_parts.h"
#include "pspf/producer.h"
#include "pspf/topic_reader.h"

namespace pspf {
namespace {

using namespace kafka;

struct QueueFree {
  void operator()(rd_kafka_queue_t* q) const { rdkafka().rd_kafka_queue_destroy(q); }
};
struct EventFree {
  void operator()(rd_kafka_event_t* e) const { rdkafka().rd_kafka_event_destroy(e); }
};
struct OptionsFree {
  void operator()(rd_kafka_AdminOptions_t* o) const { rdkafka().rd_kafka_AdminOptions_destroy(o); }
};
using Event = std::unique_ptr<rd_kafka_event_t, EventFree>;

class KafkaLog : public Log {
 public:
  explicit KafkaLog(Settings s) : s_(std::move(s)) {}
  ~KafkaLog() override {
    // librdkafka 2.0 waits forever, destroying a client, for a request the brokers
    // never answered: the process is ending anyway, so such a client is left to it.
    // (A copy of the handle that is never destroyed keeps it: spare_ shares it too.)
    if (admin_stuck_) new std::shared_ptr<rd_kafka_t>(admin_);
  }

  // The lookups before pspf-produce's first record go through the client of its
  // producer (an idempotent producer's), not a client of their own.
  void will_produce() override { producing_ = true; }

  // --- Topics
  std::optional<TopicConfig> find_topic(std::string_view name) const override {
    std::optional<int32_t> n = partition_count(admin(), s_, name);
    if (!n) return std::nullopt;
    TopicConfig t;
    t.name = std::string(name);
    t.partitions = *n;
    return t;
  }

  TopicConfig topic(std::string_view name) const override {
    if (auto t = find_topic(name)) return *t;
    throw Error(Errc::not_found, fmt::format("{}: no topic {} (create it with pspf-topics create "
                                             "-b {} -P PARTITIONS {})",
                                             cluster_label(s_), name, s_.brokers, name));
  }

  TopicConfig create_topic(const TopicConfig& cfg) override {
    const RdKafka& k = rdkafka();
    char err[512];
    // Replication factor -1: the brokers' default.replication.factor.
    rd_kafka_NewTopic_t* nt =
        k.rd_kafka_NewTopic_new(cfg.name.c_str(), cfg.partitions, -1, err, sizeof err);
    if (!nt) throw Error(Errc::usage, fmt::format("topic {}: {}", cfg.name, err));
    for (const auto& [name, value] : topic_settings(cfg))
      k.rd_kafka_NewTopic_set_config(nt, name.c_str(), value.c_str());
    Event ev = run_admin([&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
      k.rd_kafka_CreateTopics(admin(), &nt, 1, o, q);
    });
    k.rd_kafka_NewTopic_destroy(nt);
    check_event(ev.get(), fmt::format("cannot create topic {}", cfg.name));
    size_t n = 0;
    const rd_kafka_topic_result_t** r =
        k.rd_kafka_CreateTopics_result_topics(k.rd_kafka_event_CreateTopics_result(ev.get()), &n);
    if (n == 1 && k.rd_kafka_topic_result_error(r[0]))
      throw Error(errc_of(k.rd_kafka_topic_result_error(r[0])),
                  fmt::format("{}: cannot create topic {}: {}", cluster_label(s_), cfg.name,
                              k.rd_kafka_topic_result_error_string(r[0])));
    // The topic reaches every broker's metadata a little later.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(s_.timeout_ms);
    while (!find_topic(cfg.name) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return cfg;
  }

  std::vector<std::string> list_topics() const override { return topic_names(admin(), s_); }

  void delete_topic(std::string_view name) override {
    const RdKafka& k = rdkafka();
    std::string n(name);
    rd_kafka_DeleteTopic_t* dt = k.rd_kafka_DeleteTopic_new(n.c_str());
    Event ev = run_admin([&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
      k.rd_kafka_DeleteTopics(admin(), &dt, 1, o, q);
    });
    k.rd_kafka_DeleteTopic_destroy(dt);
    check_event(ev.get(), fmt::format("cannot delete topic {}", name));
    size_t cnt = 0;
    const rd_kafka_topic_result_t** r =
        k.rd_kafka_DeleteTopics_result_topics(k.rd_kafka_event_DeleteTopics_result(ev.get()), &cnt);
    if (cnt == 1 && k.rd_kafka_topic_result_error(r[0]))
      throw Error(errc_of(k.rd_kafka_topic_result_error(r[0])),
                  fmt::format("{}: cannot delete topic {}: {}", cluster_label(s_), name,
                              k.rd_kafka_topic_result_error_string(r[0])));
  }

  TopicConfig alter_topic(std::string_view name,
                          const std::function<void(TopicConfig&)>&) override {
    throw Error(Errc::usage,
                fmt::format("pspf-topics alter works on the local log; a Kafka topic's settings "
                            "are the brokers' (kafka-configs.sh --bootstrap-server {} --alter "
                            "--entity-type topics --entity-name {} --add-config NAME=VALUE)",
                            s_.brokers, name));
  }

  PartitionDirs check_partition_dirs(const TopicConfig&) const override { return {}; }

  // --- Records
  std::unique_ptr<Producer> producer(const TopicConfig& t, SyncMode, size_t) const override {
    if (spare_.handle) return make_producer(s_, t, std::exchange(spare_, {}));
    return make_producer(s_, t);
  }
  // A transactional producer. Its transactional.id names the group, the topic and
  // this process, so that two members never fence each other; -X transactional.id=ID
  // gives a member a lasting one, so that its next run aborts at once what a killed
  // run left open (instead of after transaction.timeout.ms).
  std::unique_ptr<Producer> output_producer(const TopicConfig& t,
                                            const std::string& group) const override {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    return make_producer(s_, t, fmt::format("pspf.{}.{}.{}.{}", group, t.name, host, getpid()));
  }
  std::unique_ptr<TopicReader> read(const TopicConfig& t, ReadOptions o) const override {
    return make_reader(s_, t, std::move(o));
  }
  std::unique_ptr<Consumer> consume(const std::string& group, const TopicConfig& t, Position from,
                                    bool stop_at_start_end, bool commit) const override {
    check_group(group);
    return make_consumer(s_, group, t, from, stop_at_start_end, commit);
  }

  int64_t key_version(const TopicConfig&, PartitionId, std::string_view) const override {
    throw Error(Errc::usage,
                "a key's version needs the local log: Kafka keeps no per-key "
                "version (leave out -b)");
  }

  void for_each_latest(const TopicConfig&, const LatestOptions&,
                       const std::function<void(PartitionId, const RecordView&)>&) const override {
    throw Error(Errc::usage,
                "--latest needs the local log; on Kafka, a topic with cleanup.policy=compact "
                "keeps the latest event of each key: read it with pspf-replay -b");
  }

  // pspf-topics describe (verify_indexes false): the partition's offsets and the
  // times of its first and last events, as the cluster has them. There are no
  // segment files to check (pspf-topics verify, verify_indexes true).
  PartitionScan scan(const TopicConfig& t, PartitionId p, bool verify_indexes) const override {
    if (verify_indexes)
      throw Error(Errc::usage,
                  "pspf-topics verify and repair work on the local log's files; "
                  "Kafka's brokers check and recover their own logs");
    PartitionScan s;
    OffsetBounds b = offset_bounds(t, p);
    s.start = b.start;
    s.end = b.end;
    s.records = static_cast<uint64_t>(b.end.value - b.start.value);  // compaction gaps count
    if (auto first = append_time_from(t, p, b.start, b.end)) s.first_timestamp = *first;
    if (b.end > b.start)
      if (auto last = append_time_from(t, p, Offset(b.end.value - 1), b.end))
        s.last_timestamp = *last;
    return s;
  }
  PartitionScan repair(const TopicConfig&, PartitionId) const override {
    throw Error(Errc::usage,
                "pspf-topics repair mends the local log's files; Kafka's brokers "
                "recover their own logs");
  }

  TopicReport compact(const TopicConfig& t, const CompactOptions&) const override {
    throw Error(Errc::usage,
                fmt::format("on Kafka, compaction and retention are the brokers' job: set the "
                            "topic's cleanup.policy (kafka-configs.sh --bootstrap-server {} "
                            "--alter --entity-type topics --entity-name {} --add-config "
                            "cleanup.policy=compact), or create the topic with it: pspf-topics "
                            "create -b {} -P PARTITIONS --cleanup compact {}",
                            s_.brokers, t.name, s_.brokers, t.name));
  }

  OffsetBounds offset_bounds(const TopicConfig& t, PartitionId p) const override {
    return watermarks(admin(), s_, t.name, p);
  }

  Offset offset_for_time(const TopicConfig& t, PartitionId p, Timestamp time,
                         Offset end) const override {
    std::optional<Offset> o = kafka::offset_for_time(admin(), s_, t.name, p, time);
    return o ? std::min(*o, end) : end;
  }

  std::optional<Timestamp> append_time_from(const TopicConfig& t, PartitionId p, Offset from,
                                            Offset end) const override {
    if (from >= end) return std::nullopt;
    ReadOptions o;
    o.partitions = {p};
    o.from = {Position::Kind::offset, from.value};
    o.until = Position{Position::Kind::offset, end.value};
    o.merge = false;
    auto reader = make_reader(s_, t, std::move(o));
    PartitionId got;
    RecordView r;
    if (reader->next(got, r)) return r.timestamp;
    return std::nullopt;
  }

  // --- Consumer groups
  std::vector<std::string> list_groups() const override {
    const RdKafka& k = rdkafka();
    Event ev = run_admin([&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
      k.rd_kafka_ListConsumerGroups(admin(), o, q);
    });
    check_event(ev.get(), "cannot list the consumer groups");
    size_t n = 0;
    const rd_kafka_ConsumerGroupListing_t** l = k.rd_kafka_ListConsumerGroups_result_valid(
        k.rd_kafka_event_ListConsumerGroups_result(ev.get()), &n);
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) out.emplace_back(k.rd_kafka_ConsumerGroupListing_group_id(l[i]));
    std::sort(out.begin(), out.end());
    return out;
  }

  bool group_exists(std::string_view group) const override {
    check_group(group);
    if (!committed_offsets(group).empty()) return true;
    auto all = list_groups();
    return std::find(all.begin(), all.end(), group) != all.end();
  }

  std::map<TopicPartition, Committed> committed_offsets(std::string_view group) const override {
    check_group(group);
    const RdKafka& k = rdkafka();
    Handle h = group_admin_handle(s_, std::string(group));
    std::vector<std::string> topics = topic_names(admin(), s_);
    rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(16);
    for (const auto& t : topics) {
      int32_t n = partition_count(admin(), s_, t).value_or(0);
      for (int32_t p = 0; p < n; ++p) k.rd_kafka_topic_partition_list_add(l, t.c_str(), p);
    }
    rd_kafka_resp_err_t err = k.rd_kafka_committed(h.get(), l, s_.timeout_ms);
    std::map<TopicPartition, Committed> out;
    for (int i = 0; !err && i < l->cnt; ++i)
      if (l->elems[i].offset >= 0 && !l->elems[i].err) {
        Committed c;
        c.offset = Offset(l->elems[i].offset);
        out[{l->elems[i].topic, l->elems[i].partition}] = c;
      }
    k.rd_kafka_topic_partition_list_destroy(l);
    if (err) fail(s_, fmt::format("group {}: cannot read its committed offsets", group), err);
    return out;
  }

  void set_offsets(std::string_view group,
                   const std::vector<std::pair<TopicPartition, Offset>>& offsets,
                   const std::string&) const override {
    check_group(group);
    const RdKafka& k = rdkafka();
    Handle h = group_admin_handle(s_, std::string(group));
    rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(16);
    for (const auto& [tp, off] : offsets)
      k.rd_kafka_topic_partition_list_add(l, tp.first.c_str(), tp.second)->offset = off.value;
    rd_kafka_resp_err_t err = k.rd_kafka_commit(h.get(), l, 0);
    for (int i = 0; !err && i < l->cnt; ++i) err = l->elems[i].err;
    k.rd_kafka_topic_partition_list_destroy(l);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
        err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
      throw Error(Errc::busy, fmt::format("{}: group {} has live members: Kafka sets the offsets "
                                          "of an empty group only; stop its members first",
                                          cluster_label(s_), group));
    if (err) fail(s_, fmt::format("group {}: cannot set its offsets", group), err);
  }

  void delete_group(std::string_view group) const override {
    // librdkafka 2.0 aborts when a DeleteGroups request times out; brokers that do
    // not describe groups (older than 0.10, librdkafka's mock cluster) do not
    // delete them either, so they are asked first.
    bool supported = true;
    if (!describe_group(group, &supported).empty())
      throw Error(Errc::busy, fmt::format("{}: group {} has live members: stop them first",
                                          cluster_label(s_), group));
    if (!supported)
      throw Error(Errc::io, fmt::format("{}: the brokers cannot delete consumer groups "
                                        "(DeleteGroups is not supported)",
                                        cluster_label(s_)));
    const RdKafka& k = rdkafka();
    std::string g(group);
    rd_kafka_DeleteGroup_t* dg = k.rd_kafka_DeleteGroup_new(g.c_str());
    Event ev = run_admin([&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
      k.rd_kafka_DeleteGroups(admin(), &dg, 1, o, q);
    });
    k.rd_kafka_DeleteGroup_destroy(dg);
    check_event(ev.get(), fmt::format("cannot delete group {}", group));
    size_t n = 0;
    const rd_kafka_group_result_t** r =
        k.rd_kafka_DeleteGroups_result_groups(k.rd_kafka_event_DeleteGroups_result(ev.get()), &n);
    if (n == 1)
      if (const rd_kafka_error_t* e = k.rd_kafka_group_result_error(r[0]))
        throw Error(errc_of(k.rd_kafka_error_code(e)),
                    fmt::format("{}: cannot delete group {}: {}", cluster_label(s_), group,
                                k.rd_kafka_error_string(e)));
  }

  int live_members(std::string_view group) const override {
    return static_cast<int>(describe_group(group).size());
  }

  std::map<int32_t, OwnerInfo> partition_owners(std::string_view group,
                                                const TopicConfig& t) const override {
    std::map<int32_t, OwnerInfo> out;
    for (const Member& m : describe_group(group))
      for (const auto& [topic, p] : m.assigned)
        if (topic == t.name) out[p] = OwnerInfo{m.id, 0, m.host};
    return out;
  }

 private:
  rd_kafka_t* admin() const {
    if (!admin_ && producing_) {
      spare_ = make_producer_client(s_);
      admin_ = spare_.handle;
    }
    if (!admin_) admin_ = make_handle(RD_KAFKA_PRODUCER, s_, {}, {});
    return admin_.get();
  }

  // The topic settings pspf knows, as Kafka topic configs (the brokers' defaults
  // for the rest).
  static ConfPairs topic_settings(const TopicConfig& t) {
    ConfPairs c;
    TopicConfig d;
    if (!(t.cleanup == d.cleanup))
      c.emplace_back("cleanup.policy", format_cleanup_policy(t.cleanup));
    if (t.retention_ms != d.retention_ms)
      c.emplace_back("retention.ms", std::to_string(t.retention_ms));
    if (t.retention_bytes != d.retention_bytes)
      c.emplace_back("retention.bytes", std::to_string(t.retention_bytes));
    if (t.segment_bytes != d.segment_bytes)
      c.emplace_back("segment.bytes", std::to_string(t.segment_bytes));
    if (t.delete_retention_ms != d.delete_retention_ms)
      c.emplace_back("delete.retention.ms", std::to_string(t.delete_retention_ms));
    if (t.min_compaction_lag_ms != d.min_compaction_lag_ms)
      c.emplace_back("min.compaction.lag.ms", std::to_string(t.min_compaction_lag_ms));
    return c;
  }

  // Starts an admin request with `start` and waits for its result. Throws Error(io)
  // when the cluster does not answer within the timeout.
  Event run_admin(
      const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& start) const {
    const RdKafka& k = rdkafka();
    std::unique_ptr<rd_kafka_queue_t, QueueFree> q(k.rd_kafka_queue_new(admin()));
    std::unique_ptr<rd_kafka_AdminOptions_t, OptionsFree> o(
        k.rd_kafka_AdminOptions_new(admin(), RD_KAFKA_ADMIN_OP_ANY));
    char err[256];
    k.rd_kafka_AdminOptions_set_request_timeout(o.get(), s_.timeout_ms, err, sizeof err);
    start(o.get(), q.get());
    // The request timeout ends the request with an error event; the margin covers a
    // broker that does not know the request at all.
    Event ev(k.rd_kafka_queue_poll(q.get(), s_.timeout_ms + 5000));
    if (!ev) {
      admin_stuck_ = true;
      throw Error(Errc::io,
                  fmt::format("{}: no answer in {} ms", cluster_label(s_), s_.timeout_ms + 5000));
    }
    return ev;
  }

  void check_event(rd_kafka_event_t* ev, const std::string& what) const {
    const RdKafka& k = rdkafka();
    if (rd_kafka_resp_err_t err = k.rd_kafka_event_error(ev))
      throw Error(errc_of(err), fmt::format("{}: {}: {}", cluster_label(s_), what,
                                            k.rd_kafka_event_error_string(ev)));
  }

  // A live member of a group, as the group's coordinator describes it.
  struct Member {
    std::string id, host;
    std::vector<std::pair<std::string, int32_t>> assigned;  // topic, partition
  };

  // The group's live members. Through the DescribeGroups request of
  // rd_kafka_list_groups: librdkafka 2.0's DescribeConsumerGroups leaves the client
  // unable to shut down when a broker does not know the request. A broker that does
  // not (librdkafka's mock cluster) describes no member.
  std::vector<Member> describe_group(std::string_view group, bool* supported = nullptr) const {
    check_group(group);
    const RdKafka& k = rdkafka();
    std::string g(group);
    const rd_kafka_group_list* list = nullptr;
    rd_kafka_resp_err_t err = k.rd_kafka_list_groups(admin(), g.c_str(), &list, s_.timeout_ms);
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
      if (supported) *supported = false;
      return {};
    }
    if (err) fail(s_, fmt::format("cannot describe group {}", group), err);
    std::vector<Member> out;
    for (int i = 0; i < list->group_cnt; ++i) {
      const rd_kafka_group_info& info = list->groups[i];
      if (g != info.group || info.err) continue;
      for (int j = 0; j < info.member_cnt; ++j) {
        const rd_kafka_group_member_info& m = info.members[j];
        Member member{m.member_id, m.client_host, {}};
        parse_assignment(static_cast<const unsigned char*>(m.member_assignment),
                         static_cast<size_t>(m.member_assignment_size), member.assigned);
        out.push_back(std::move(member));
      }
    }
    k.rd_kafka_group_list_destroy(list);
    return out;
  }

  // Kafka's consumer protocol assignment: i16 version, then i32 topic count and for
  // each topic an i16-length name and an i32 count of i32 partitions (big-endian).
  // Whatever does not parse is left out.
  static void parse_assignment(const unsigned char* p, size_t n,
                               std::vector<std::pair<std::string, int32_t>>& out) {
    size_t at = 0;
    auto take = [&](size_t bytes, int64_t& v) {
      if (!p || n - at < bytes || at > n) return false;
      v = 0;
      for (size_t i = 0; i < bytes; ++i) v = (v << 8) | p[at + i];
      if (bytes == 2) v = static_cast<int16_t>(v);
      if (bytes == 4) v = static_cast<int32_t>(v);
      at += bytes;
      return true;
    };
    int64_t version, topics;
    if (!take(2, version) || !take(4, topics)) return;
    for (int64_t t = 0; t < topics; ++t) {
      int64_t len, parts;
      if (!take(2, len) || len < 0 || n - at < static_cast<size_t>(len)) return;
      std::string name(reinterpret_cast<const char*>(p + at), static_cast<size_t>(len));
      at += static_cast<size_t>(len);
      if (!take(4, parts)) return;
      for (int64_t i = 0; i < parts; ++i) {
        int64_t part;
        if (!take(4, part)) return;
        out.emplace_back(name, static_cast<int32_t>(part));
      }
    }
  }

  void check_group(std::string_view group) const {
    if (group.empty() || group.size() > 249)
      throw Error(Errc::usage, fmt::format("invalid group name '{}': 1 to 249 characters", group));
  }

  Settings s_;
  mutable std::shared_ptr<rd_kafka_t> admin_;
  mutable bool admin_stuck_ = false;
  bool producing_ = false;
  mutable ProducerClient spare_;  // the client admin_ is, until a producer takes it
};

}  // namespace

std::unique_ptr<Log> open_kafka_log(kafka::Settings s) {
  kafka::rdkafka();  // a missing librdkafka is said before anything else
  return std::make_unique<KafkaLog>(std::move(s));
}

}  // namespace pspf
