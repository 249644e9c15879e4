// The Kafka backend's producer: an idempotent librdkafka producer with acks=all.
// A record counts as written (and the append hook hears of it) when the cluster
// acknowledged it; records are routed by pspf (murmur2 of the key or id), so a key
// lands on the same partition number as in the local log.
//
// With a transactional id (pspf-consume --exec --to), records go into a Kafka
// transaction that commit_input() ends, so that a batch's output and its input
// offset are written together or not at all:
//   1. At start: init_transactions. The cluster aborts what an earlier producer
//      with the same transactional.id left open, and fences that producer.
//   2. The first record of a batch begins a transaction; the records follow.
//   3. commit_input: the group member still owns the input partition (else the
//      transaction is aborted: taken over); send_offsets_to_transaction with the
//      member's group metadata, so that a member of an older generation is refused;
//      then commit_transaction. Errors that librdkafka calls retriable are tried
//      again up to the timeout.
//   4. An error that requires an abort: abort_transaction, and the batch counts as
//      failed (the Processor runs it again, or gives it up as for any failure).
//      A fatal error (the producer was fenced) stops the command; the open
//      transaction is never committed.
//   5. A producer destroyed with a transaction open aborts it.
#include <algorithm>
#include <chrono>
#include <exception>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "pspf/json_codec.h"
#include "pspf/kafka/kafka_parts.h"
#include "pspf/log.h"
#include "pspf/msgpack.h"
#include "pspf/murmur2.h"

namespace pspf::kafka {
namespace {

// Keyless records without an id go to one partition this many at a time, then to
// the next (Kafka's sticky partitioner moves on at each batch).
constexpr uint64_t kStickyRun = 128;
// How many records are queued between two serves of delivery reports.
constexpr uint64_t kServeEvery = 1024;
// How many plain records (no headers, no timestamp of their own) are handed to
// librdkafka in one call.
constexpr size_t kBatchRecords = 512;

// A record kept until it is acknowledged, for the append hook.
struct Kept {
  std::string key, id, headers, value;
  bool has_key = false, has_id = false;
};

class KafkaProducer;

}  // namespace

struct ProducerClient::Sink {
  KafkaProducer* producer = nullptr;  // (null: no producer, and no record sent)
};

namespace {

// librdkafka's delivery report callback: `opaque` is the client's sink.
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);

// The client of a producer, transactional when `transactional_id` is not empty.
ProducerClient producer_client(Settings s, const std::string& transactional_id) {
  // At most 20,000 records waiting for the cluster (librdkafka's default: 100,000):
  // as fast against a cluster on the same host, and a producer ahead of it holds
  // about 6 MB of them instead of 30.
  ConfPairs defaults{{"linger.ms", "5"},
                     {"queue.buffering.max.messages", "20000"},
                     {"message.timeout.ms", std::to_string(s.timeout_ms)},
                     {"allow.auto.create.topics", "false"}};
  // -X transactional.id names the transactional producer of the command; its other
  // producers (pspf-consume --dead-letter) write without transactions.
  if (transactional_id.empty())
    std::erase_if(s.config, [](const auto& kv) { return kv.first == "transactional.id"; });
  else {
    // (librdkafka wants message.timeout.ms <= transaction.timeout.ms.)
    defaults.emplace_back("transactional.id", transactional_id);
    defaults.emplace_back("transaction.timeout.ms", std::to_string(std::max(s.timeout_ms, 60000)));
  }
  ProducerClient c;
  c.sink = std::make_shared<ProducerClient::Sink>();
  c.handle =
      make_handle(RD_KAFKA_PRODUCER, s, defaults, {{"enable.idempotence", "true"}, {"acks", "all"}},
                  [sink = c.sink.get()](rd_kafka_conf_t* conf) {
                    rdkafka().rd_kafka_conf_set_opaque(conf, sink);
                    rdkafka().rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
                  });
  return c;
}

class KafkaProducer : public Producer {
 public:
  // Through `client` when it has a handle, else through a client of its own.
  KafkaProducer(const Settings& s, TopicConfig t, const std::string& transactional_id,
                ProducerClient client)
      : s_(s), topic_(std::move(t)), transactional_(!transactional_id.empty()) {
    if (!client.handle) client = producer_client(s, transactional_id);
    handle_ = std::move(client.handle);
    sink_ = std::move(client.sink);
    sink_->producer = this;
    if (transactional_)
      check(rdkafka().rd_kafka_init_transactions(handle_.get(), s_.timeout_ms),
            "cannot start its transactions");
  }

  ~KafkaProducer() override {
    salvage();
    try {
      abort_transaction();
    } catch (...) {  // the cluster aborts it when transaction.timeout.ms ends
    }
    sink_->producer = nullptr;
  }

  // Learns where the topic's partitions are before the first record, so that it
  // does not wait for librdkafka's next metadata refresh (up to a second) when the
  // records come. A topic that does not exist yet is looked up when it is created.
  void warm_up() {
    const RdKafka& k = rdkafka();
    TopicHandle rkt(k.rd_kafka_topic_new(handle_.get(), topic_.name.c_str(), nullptr));
    if (!rkt) return;
    const rd_kafka_metadata_t* md = nullptr;
    if (k.rd_kafka_metadata(handle_.get(), 0, rkt.get(), &md, s_.timeout_ms) == 0)
      k.rd_kafka_metadata_destroy(md);
  }

  void on_append(AppendHook hook) override { hook_ = std::move(hook); }
  void create_on_first_write(std::function<TopicConfig()> create) override {
    create_ = std::move(create);
  }
  void set_producer_id(std::string) override {
    throw Error(Errc::usage,
                "--producer-id needs the local log: Kafka keeps no producer marks "
                "(leave out -b, or import once)");
  }
  void expect_version(ExpectVersion) override {
    throw Error(Errc::usage,
                "--expect-version needs the local log: Kafka has no per-key "
                "version check (leave out -b)");
  }
  void expect_ids(uint64_t) override {}
  void timestamp_next(Timestamp t) override { next_timestamp_ = t.value; }
  void value_text_next(std::string_view text) override { next_text_ = text; }

  PartitionId route(const std::string_view* key, const std::string_view* id, uint64_t) override {
    if (key) return partition_for_key(*key, topic_.partitions);
    if (id) return partition_for_key(*id, topic_.partitions);
    if (++keyless_ % kStickyRun == 0) sticky_ = (sticky_ + 1) % topic_.partitions;
    return PartitionId(sticky_);
  }
  bool appended_before(PartitionId, uint64_t) override { return false; }

  std::optional<std::string> oversized(PartitionId, const std::string_view* key,
                                       const std::string_view* id, std::string_view headers,
                                       size_t value_size, uint64_t) const override {
    size_t size = value_size + headers.size() + (key ? key->size() : 0) + (id ? id->size() : 0);
    if (size > kMaxMessageBytes)
      return fmt::format("event of about {} bytes is larger than Kafka messages may be ({} bytes)",
                         size, kMaxMessageBytes);
    return std::nullopt;
  }

  void add(PartitionId p, const std::string_view* key, const std::string_view* id,
           std::string_view headers, std::string_view value, uint64_t) override {
    // The input text of this value, if the caller gave it, without the blanks around it.
    std::string_view text = std::exchange(next_text_, {});
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
      text.remove_suffix(1);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    rethrow();
    if (create_) {
      topic_ = create_routed_topic(create_, topic_);
      warm_up();
    }
    begin_transaction();
    const RdKafka& k = rdkafka();
    // The topic's handle, held: a record naming its topic would make librdkafka look
    // the name up, under a lock, at every call.
    if (!rkt_) {
      rkt_.reset(k.rd_kafka_topic_new(handle_.get(), topic_.name.c_str(), nullptr));
      if (!rkt_)
        fail(s_, fmt::format("topic {}: cannot use it", topic_.name), k.rd_kafka_last_error());
    }
    json_.clear();
    bool tombstone = msgpack_is_nil(value);
    if (!tombstone && text.empty()) {
      const char* q = value.data();
      if (!msgpack_to_json(&q, value.data() + value.size(), json_))
        throw Error(Errc::invalid_input, "an event's value is not valid MessagePack");
      text = json_.view();
    }
    kv_.clear();
    if (!headers.empty() && !msgpack_read_string_map(headers, kv_))
      throw Error(Errc::invalid_input, "an event's headers are not a map of strings");
    rd_kafka_headers_t* hdrs = nullptr;
    if (id || !kv_.empty()) {
      hdrs = k.rd_kafka_headers_new(kv_.size() + 1);
      if (id)
        k.rd_kafka_header_add(hdrs, kIdHeader.data(), kIdHeader.size(), id->data(), id->size());
      for (const auto& [n, v] : kv_)
        k.rd_kafka_header_add(hdrs, n.data(), static_cast<ssize_t>(n.size()), v.data(),
                              static_cast<ssize_t>(v.size()));
    }
    Kept* kept = nullptr;
    if (hook_) {
      kept = new Kept;
      kept->has_key = key != nullptr;
      if (key) kept->key = *key;
      kept->has_id = id != nullptr;
      if (id) kept->id = *id;
      kept->headers = headers;
      kept->value = value;
    }
    if (!hdrs && next_timestamp_ == 0 && !transactional_) {
      hold(p, key, tombstone ? std::string_view() : text, tombstone, kept);
      return;
    }
    submit_held();  // (the records before this one go first)
    for (;;) {
      rd_kafka_resp_err_t err = k.rd_kafka_producev(
          handle_.get(), RD_KAFKA_V_RKT(rkt_.get()), RD_KAFKA_V_PARTITION(p.value),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key ? key->data() : nullptr, key ? key->size() : 0),
          RD_KAFKA_V_VALUE(tombstone ? nullptr : const_cast<char*>(text.data()),  // copied (F_COPY)
                           tombstone ? 0 : text.size()),
          RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_TIMESTAMP(next_timestamp_), RD_KAFKA_V_OPAQUE(kept),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {  // wait for acknowledgements
        k.rd_kafka_poll(handle_.get(), 100);
        rethrow();
        continue;
      }
      if (hdrs) k.rd_kafka_headers_destroy(hdrs);
      delete kept;
      fail(s_, fmt::format("{}: cannot queue an event", Log::label(topic_, p)), err);
    }
    next_timestamp_ = 0;  // 0: librdkafka stamps the time of the call
    ++queued_;
    if (queued_ % kServeEvery == 0) k.rd_kafka_poll(handle_.get(), 0);
    rethrow();
  }

  uint64_t producer_seq(PartitionId) override { return 0; }

  bool flush() override {
    submit_held();
    wait_all();
    rethrow();
    return true;
  }

  InputCommit commit_input(Consumer& input, PartitionId p, Offset next) override {
    if (!transactional_) return Producer::commit_input(input, p, next);
    auto* member = dynamic_cast<TransactionInput*>(&input);
    if (!member)
      throw Error(Errc::usage,
                  "a Kafka transaction commits offsets of a Kafka consumer group only");
    InputCommit r;
    if (!member->owns(p)) {  // the records must not be seen without the offset
      abort_transaction();
      r.outcome = InputCommit::taken_over;
      return r;
    }
    begin_transaction();  // a batch without output still commits its offset
    const RdKafka& k = rdkafka();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(s_.timeout_ms);
    rd_kafka_error_t* e = retried(deadline, [&] {
      rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(1);
      k.rd_kafka_topic_partition_list_add(l, member->input_topic().c_str(), p.value)->offset =
          next.value;
      rd_kafka_consumer_group_metadata_t* group = member->group_metadata();
      rd_kafka_error_t* err =
          k.rd_kafka_send_offsets_to_transaction(handle_.get(), l, group, s_.timeout_ms);
      k.rd_kafka_consumer_group_metadata_destroy(group);
      k.rd_kafka_topic_partition_list_destroy(l);
      return err;
    });
    if (!e)
      e = retried(deadline,
                  [&] { return k.rd_kafka_commit_transaction(handle_.get(), s_.timeout_ms); });
    if (!e) {
      in_transaction_ = false;
      member->committed_in_transaction(p, next);
      return r;
    }
    std::string why = k.rd_kafka_error_string(e);
    bool fatal = k.rd_kafka_error_is_fatal(e), abort = k.rd_kafka_error_txn_requires_abort(e);
    rd_kafka_resp_err_t code = k.rd_kafka_error_code(e);
    k.rd_kafka_error_destroy(e);
    if (fatal || !abort)
      throw Error(errc_of(code),
                  fmt::format("{}: the transaction of a batch of topic {} partition {} (output "
                              "to topic {}) failed{}: {}; nothing of it was committed",
                              cluster_label(s_), member->input_topic(), p.value, topic_.name,
                              fatal ? " for good" : "", why));
    abort_transaction();
    r.outcome = member->owns(p) ? InputCommit::aborted : InputCommit::taken_over;
    r.why = fmt::format("transaction aborted: {}: {}", cluster_label(s_), why);
    return r;
  }

  void salvage() noexcept override {
    try {
      submit_held();
    } catch (...) {  // what it could not queue is not written: the error said so
    }
    try {
      wait_all();
    } catch (...) {
    }
  }

  uint64_t appended() const override { return appended_; }
  int32_t partitions_appended() const override { return static_cast<int32_t>(partitions_.size()); }
  uint64_t duplicates() const override { return 0; }
  int64_t conflict_version() const override { return -1; }
  uint64_t pending() const override { return held_.size() + queued_ - appended_ - failed_; }
  uint64_t truncated_bytes() const override { return 0; }
  std::vector<std::string> quarantined() const override { return {}; }
  const TopicConfig& topic() const override { return topic_; }

  // A delivery report of the client (on_delivery).
  // It runs inside librdkafka's poll: nothing may be thrown through it.
  void delivered(const rd_kafka_message_t* m) noexcept {
    std::unique_ptr<Kept> kept(static_cast<Kept*>(m->_private));
    if (m->err) {
      ++failed_;
      if (!first_error_) first_error_ = m->err;
      return;
    }
    ++appended_;
    partitions_.insert(m->partition);
    if (!hook_ || !kept || error_) return;
    try {
      rd_kafka_timestamp_type_t type;
      Timestamp ts(rdkafka().rd_kafka_message_timestamp(m, &type));
      std::string_view key = kept->key, id = kept->id;
      batch_.clear();
      batch_.add(kept->has_key ? &key : nullptr, kept->has_id ? &id : nullptr, kept->headers,
                 kept->value);
      AppendResult r;
      r.appended = {Offset(m->offset), ts, 1};
      hook_(PartitionId(m->partition), r, batch_.seal(Offset(m->offset), ts));
    } catch (...) {
      error_ = std::current_exception();
    }
  }

 private:
  // Kafka's default message.max.bytes (about 1 MB); a larger event needs the topic's
  // max.message.bytes and the producer's message.max.bytes raised (-X).
  static constexpr size_t kMaxMessageBytes = 1000000;

  // A plain record, held for the next rd_kafka_produce_batch call: one call takes the
  // topic's lock and reads the clock once for all the records it queues, where
  // rd_kafka_producev does so for each. Its key and value are copied to held_bytes_.
  struct Held {
    int32_t partition;
    bool has_key, tombstone;
    size_t key_at, key_size, value_at, value_size;
    Kept* kept;
  };

  void hold(PartitionId p, const std::string_view* key, std::string_view value, bool tombstone,
            Kept* kept) {
    Held h{p.value, key != nullptr, tombstone, held_bytes_.size(), key ? key->size() : 0,
           0,       value.size(),   kept};
    if (key) held_bytes_.append(*key);
    h.value_at = held_bytes_.size();
    held_bytes_.append(value);
    held_.push_back(h);
    if (held_.size() >= kBatchRecords) submit_held();
  }

  // Queues the held records: partition by partition, each partition's in input order
  // (the order between partitions is not kept, by Kafka either), so that librdkafka
  // looks each partition up once. When its queue is full, rd_kafka_produce_batch
  // refuses the first record that does not fit and every one after it, so the rest
  // is offered again once acknowledgements made room.
  void submit_held() {
    if (held_.empty()) return;
    const RdKafka& k = rdkafka();
    // A stable counting sort by partition.
    run_ends_.assign(static_cast<size_t>(topic_.partitions) + 1, 0);
    for (const Held& h : held_) ++run_ends_[static_cast<size_t>(h.partition) + 1];
    for (size_t p = 1; p < run_ends_.size(); ++p) run_ends_[p] += run_ends_[p - 1];
    messages_.assign(held_.size(), rd_kafka_message_t{});
    const char* bytes = held_bytes_.data();
    for (const Held& h : held_) {
      rd_kafka_message_t& m = messages_[run_ends_[static_cast<size_t>(h.partition)]++];
      m.partition = h.partition;
      if (h.has_key) m.key = const_cast<char*>(bytes + h.key_at), m.key_len = h.key_size;
      if (!h.tombstone)  // copied (F_COPY)
        m.payload = const_cast<char*>(bytes + h.value_at), m.len = h.value_size;
      m._private = h.kept;
    }
    // (run_ends_[p] is now where partition p's records end.)
    rd_kafka_resp_err_t refused = RD_KAFKA_RESP_ERR_NO_ERROR;
    size_t from = 0;
    for (size_t p = 0; p + 1 < run_ends_.size(); ++p) {
      size_t end = run_ends_[p];
      while (from < end && !refused) {
        k.rd_kafka_produce_batch(rkt_.get(), static_cast<int32_t>(p), RD_KAFKA_MSG_F_COPY,
                                 &messages_[from], static_cast<int>(end - from));
        size_t i = from;
        for (; i < end; ++i) {
          rd_kafka_resp_err_t err = messages_[i].err;
          if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) break;  // (and every record after it)
          if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ++queued_;
          } else {  // never queued: no delivery report frees its Kept
            delete static_cast<Kept*>(messages_[i]._private);
            refused = err;
          }
        }
        from = i;
        // Waits for acknowledgements (the delivery reports throw nothing: what they
        // left behind is thrown below, once every held record is queued).
        if (from < end && !refused) k.rd_kafka_poll(handle_.get(), 100);
      }
    }
    for (; from < messages_.size(); ++from)  // after a refusal: none of these was queued
      delete static_cast<Kept*>(messages_[from]._private);
    held_.clear();
    held_bytes_.clear();
    if (refused) fail(s_, fmt::format("topic {}: cannot queue an event", topic_.name), refused);
    k.rd_kafka_poll(handle_.get(), 0);
    rethrow();
  }

  // Waits until every queued record was acknowledged or failed.
  void wait_all() {
    const RdKafka& k = rdkafka();
    while (k.rd_kafka_outq_len(handle_.get()) > 0)
      k.rd_kafka_flush(handle_.get(), 1000);  // message.timeout.ms bounds the wait
  }

  // Begins a transaction, if transactional and none is open.
  void begin_transaction() {
    if (!transactional_ || in_transaction_) return;
    check(rdkafka().rd_kafka_begin_transaction(handle_.get()), "cannot begin a transaction");
    in_transaction_ = true;
  }

  // Aborts the open transaction, if any; its records are never seen by readers of
  // committed data (isolation.level=read_committed, librdkafka's default).
  void abort_transaction() {
    if (!in_transaction_) return;
    in_transaction_ = false;
    failed_ = 0;
    first_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
    check(rdkafka().rd_kafka_abort_transaction(handle_.get(), s_.timeout_ms),
          "cannot abort a transaction");
  }

  // Calls `call` again while it fails with an error librdkafka calls retriable,
  // until the deadline. Returns its last error (null: success).
  template <typename Call>
  rd_kafka_error_t* retried(std::chrono::steady_clock::time_point deadline, Call call) {
    for (;;) {
      rd_kafka_error_t* e = call();
      if (!e || !rdkafka().rd_kafka_error_is_retriable(e) ||
          std::chrono::steady_clock::now() >= deadline)
        return e;
      rdkafka().rd_kafka_error_destroy(e);
    }
  }

  // Throws Error for a transaction call's error.
  void check(rd_kafka_error_t* e, std::string_view what) {
    if (!e) return;
    const RdKafka& k = rdkafka();
    rd_kafka_resp_err_t code = k.rd_kafka_error_code(e);
    std::string why = k.rd_kafka_error_string(e);
    k.rd_kafka_error_destroy(e);
    throw Error(errc_of(code), fmt::format("{}: producer of topic {}: {}: {}", cluster_label(s_),
                                           topic_.name, what, why));
  }

  // Throws what a delivery report or the hook left behind. (In a transaction, a
  // record that failed makes its commit fail instead.)
  void rethrow() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if (first_error_ && !transactional_)
      throw Error(errc_of(first_error_),
                  fmt::format("{}: {} event{} of topic {} not written: {}", cluster_label(s_),
                              failed_, failed_ == 1 ? "" : "s", topic_.name,
                              rdkafka().rd_kafka_err2str(first_error_)));
  }

  Settings s_;
  TopicConfig topic_;
  bool transactional_;
  bool in_transaction_ = false;
  std::shared_ptr<rd_kafka_t> handle_;
  std::shared_ptr<ProducerClient::Sink> sink_;
  TopicHandle rkt_;  // (destroyed before handle_)
  AppendHook hook_;
  std::function<TopicConfig()> create_;
  Buffer json_;
  std::vector<std::pair<std::string_view, std::string_view>> kv_;
  BatchBuilder batch_;
  int64_t next_timestamp_ = 0;
  std::string_view next_text_;
  std::vector<Held> held_;
  Buffer held_bytes_;
  std::vector<rd_kafka_message_t> messages_;
  std::vector<size_t> run_ends_;
  uint64_t keyless_ = 0;
  int32_t sticky_ = 0;
  uint64_t queued_ = 0;
  uint64_t appended_ = 0;
  uint64_t failed_ = 0;
  std::set<int32_t> partitions_;
  rd_kafka_resp_err_t first_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::exception_ptr error_;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (KafkaProducer* p = static_cast<ProducerClient::Sink*>(opaque)->producer) p->delivered(m);
}

}  // namespace

std::unique_ptr<Producer> make_producer(const Settings& s, const TopicConfig& t,
                                        const std::string& transactional_id) {
  auto p = std::make_unique<KafkaProducer>(s, t, transactional_id, ProducerClient{});
  if (t.partitions > 0 && !t.name.empty()) p->warm_up();
  return p;
}

ProducerClient make_producer_client(const Settings& s) { return producer_client(s, {}); }

std::unique_ptr<Producer> make_producer(const Settings& s, const TopicConfig& t,
                                        ProducerClient client) {
  auto p = std::make_unique<KafkaProducer>(s, t, std::string(), std::move(client));
  if (t.partitions > 0 && !t.name.empty()) p->warm_up();
  return p;
}

}  // namespace pspf::kafka
