#include "pspf/kafka/kafka_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "pspf/json_text.h"
#include "pspf/msgpack.h"

namespace pspf::kafka {

std::string cluster_label(const Settings& s) { return "Kafka cluster " + s.brokers; }

void HandleDeleter::operator()(rd_kafka_t* rk) const { rdkafka().rd_kafka_destroy(rk); }
void TopicHandleDeleter::operator()(rd_kafka_topic_t* rkt) const {
  rdkafka().rd_kafka_topic_destroy(rkt);
}

namespace {

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value, bool from_user) {
  char err[512];
  if (rdkafka().rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK)
    throw Error(Errc::usage, from_user ? fmt::format("invalid -X {}={}: {}", name, value, err)
                                       : fmt::format("Kafka setting {}={}: {}", name, value, err));
}

}  // namespace

Handle make_handle(rd_kafka_type_t type, const Settings& s, const ConfPairs& defaults,
                   const ConfPairs& fixed, const std::function<void(rd_kafka_conf_t*)>& setup) {
  const RdKafka& k = rdkafka();
  rd_kafka_conf_t* conf = k.rd_kafka_conf_new();
  try {
    set(conf, "bootstrap.servers", s.brokers, false);
    // librdkafka logs connection trouble to stderr on its own; pspf reports what
    // failed, once, when it gives up.
    set(conf, "log_level", "0", false);
    for (const auto& [n, v] : defaults) set(conf, n, v, false);
    for (const auto& [n, v] : s.config) set(conf, n, v, true);
    for (const auto& [n, v] : fixed) set(conf, n, v, false);
    if (setup) setup(conf);
  } catch (...) {
    k.rd_kafka_conf_destroy(conf);
    throw;
  }
  char err[512];
  rd_kafka_t* rk = k.rd_kafka_new(type, conf, err, sizeof err);  // owns conf on success
  if (!rk) {
    k.rd_kafka_conf_destroy(conf);
    throw Error(Errc::usage, fmt::format("{}: cannot make a client: {}", cluster_label(s), err));
  }
  return Handle(rk);
}

Errc errc_of(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND: return Errc::not_found;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: return Errc::exists;
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED: return Errc::usage;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: return Errc::invalid_input;
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP: return Errc::busy;
    default: return Errc::io;
  }
}

void fail(const Settings& s, std::string_view what, rd_kafka_resp_err_t err) {
  throw Error(errc_of(err),
              fmt::format("{}: {}: {}", cluster_label(s), what, rdkafka().rd_kafka_err2str(err)));
}

namespace {

// The metadata of every topic. Throws Error(io) when the cluster does not answer.
const rd_kafka_metadata_t* all_metadata(rd_kafka_t* rk, const Settings& s) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rdkafka().rd_kafka_metadata(rk, 1, nullptr, &md, s.timeout_ms);
  if (err) fail(s, "cannot read the cluster's topics", err);
  return md;
}

struct MetadataFree {
  void operator()(const rd_kafka_metadata_t* md) const { rdkafka().rd_kafka_metadata_destroy(md); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataFree>;

}  // namespace

std::optional<int32_t> partition_count(rd_kafka_t* rk, const Settings& s, std::string_view topic) {
  Metadata md(all_metadata(rk, s));
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::nullopt;
    if (t.err) fail(s, fmt::format("topic {}", topic), t.err);
    return t.partition_cnt;
  }
  return std::nullopt;
}

std::vector<std::string> topic_names(rd_kafka_t* rk, const Settings& s) {
  Metadata md(all_metadata(rk, s));
  std::vector<std::string> out;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (std::strncmp(md->topics[i].topic, "__", 2) != 0 && !md->topics[i].err)
      out.emplace_back(md->topics[i].topic);
  std::sort(out.begin(), out.end());
  return out;
}

OffsetBounds watermarks(rd_kafka_t* rk, const Settings& s, std::string_view topic, PartitionId p) {
  int64_t lo = 0, hi = 0;
  std::string name(topic);
  rd_kafka_resp_err_t err =
      rdkafka().rd_kafka_query_watermark_offsets(rk, name.c_str(), p.value, &lo, &hi, s.timeout_ms);
  if (err)
    fail(s, fmt::format("topic {} partition {}: cannot read its offsets", topic, p.value), err);
  return {Offset(lo), Offset(hi)};
}

std::optional<Offset> offset_for_time(rd_kafka_t* rk, const Settings& s, std::string_view topic,
                                      PartitionId p, Timestamp time) {
  const RdKafka& k = rdkafka();
  std::string name(topic);
  rd_kafka_topic_partition_list_t* l = k.rd_kafka_topic_partition_list_new(1);
  k.rd_kafka_topic_partition_list_add(l, name.c_str(), p.value)->offset = time.value;
  rd_kafka_resp_err_t err = k.rd_kafka_offsets_for_times(rk, l, s.timeout_ms);
  int64_t off = l->elems[0].offset;
  rd_kafka_resp_err_t perr = l->elems[0].err;
  k.rd_kafka_topic_partition_list_destroy(l);
  if (err || perr)
    fail(s, fmt::format("topic {} partition {}: cannot find the offset for a time", topic, p.value),
         err ? err : perr);
  if (off < 0) return std::nullopt;
  return Offset(off);
}

Offset resolve(rd_kafka_t* rk, const Settings& s, std::string_view topic, PartitionId p,
               const OffsetBounds& b, const Position& pos) {
  switch (pos.kind) {
    case Position::Kind::beginning: return b.start;
    case Position::Kind::end: return b.end;
    case Position::Kind::offset: return Offset(std::clamp(pos.value, b.start.value, b.end.value));
    case Position::Kind::last_n: return Offset(std::max(b.start.value, b.end.value - pos.value));
    case Position::Kind::time:
      return offset_for_time(rk, s, topic, p, Timestamp(pos.value)).value_or(b.end);
  }
  return b.start;
}

RecordMaker::RecordMaker() = default;
RecordMaker::~RecordMaker() = default;

void RecordMaker::convert(const rd_kafka_message_t* m, RecordView& r) {
  const RdKafka& k = rdkafka();
  r = RecordView{};
  r.offset = Offset(m->offset);
  rd_kafka_timestamp_type_t tstype;
  r.timestamp = Timestamp(k.rd_kafka_message_timestamp(m, &tstype));
  if (m->key) {
    r.has_key = true;
    r.key = {static_cast<const char*>(m->key), m->key_len};
  }
  value_.clear();
  if (!m->payload) {
    msgpack_put_nil(value_);
  } else {
    std::string_view text(static_cast<const char*>(m->payload), m->len);
    json_.clear();
    if (compact_json(text, json_))
      msgpack_put_ext(value_, kJsonTextExt, json_.view());  // printed back as it is
    else
      msgpack_put_str(value_, text);  // another client's text that is not JSON
  }
  r.value = value_.view();
  headers_.clear();
  kv_.clear();
  rd_kafka_headers_t* hdrs = nullptr;
  if (k.rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
    const char* name;
    const void* v;
    size_t len;
    for (size_t i = 0; k.rd_kafka_header_get_all(hdrs, i, &name, &v, &len) == 0; ++i) {
      std::string_view value = v ? std::string_view(static_cast<const char*>(v), len) : "";
      if (name == kIdHeader && !r.has_id) {
        r.has_id = true;
        r.id = value;
      } else {
        kv_.emplace_back(name, value);
      }
    }
  }
  if (!kv_.empty()) {
    msgpack_put_string_map(headers_, kv_);
    r.headers = headers_.view();
  }
}

WakePipe::WakePipe() {
  if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe");
}

WakePipe::~WakePipe() {
  ::close(fds_[0]);
  ::close(fds_[1]);
}

void WakePipe::watch(rd_kafka_queue_t* q) const {
  rdkafka().rd_kafka_queue_io_event_enable(q, fds_[1], "1", 1);
}

void WakePipe::drain() const {
  char buf[256];
  while (::read(fds_[0], buf, sizeof buf) > 0) {
  }
}

}  // namespace pspf::kafka
