// The pieces every part of the Kafka backend shares: where the cluster is and how
// to reach it (Settings), client handles, turning librdkafka's errors into pspf
// errors, the cluster's view of a topic, and turning Kafka messages into records.
//
// The mapping of a record (pspf.7 KAFKA): key = the message key; value = the JSON
// text (a null value is a tombstone); event id = the header "pspf-id"; other
// headers = message headers; timestamp = the message timestamp; offset and
// partition = the message's. Partitions are chosen by the same murmur2 as the local
// log, so a key keeps its partition number when a topic moves.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pspf/batch.h"
#include "pspf/buffer.h"
#include "pspf/error.h"
#include "pspf/kafka/rdkafka_api.h"
#include "pspf/position.h"
#include "pspf/types.h"

namespace pspf::kafka {

// The header that carries a record's event id.
inline constexpr std::string_view kIdHeader = "pspf-id";

struct Settings {
  std::string brokers;                                      // -b HOST:PORT[,...]
  std::vector<std::pair<std::string, std::string>> config;  // -X NAME=VALUE, in order
  // How long a command waits for the cluster to answer before it fails.
  int timeout_ms = 30000;
};

// "Kafka cluster HOST:PORT,...", the way messages name the cluster.
std::string cluster_label(const Settings& s);

using ConfPairs = std::vector<std::pair<std::string, std::string>>;

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const;
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct TopicHandleDeleter {
  void operator()(rd_kafka_topic_t* rkt) const;
};
// A client's handle on one topic (destroy it before the client's Handle).
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicHandleDeleter>;

// A client for the cluster. Its settings, later ones winning: `defaults` (what pspf
// prefers), the user's -X, then `fixed` (what the backend relies on). `setup` may
// add callbacks. Throws Error(usage) for a setting librdkafka refuses, naming it.
Handle make_handle(rd_kafka_type_t type, const Settings& s, const ConfPairs& defaults,
                   const ConfPairs& fixed,
                   const std::function<void(rd_kafka_conf_t*)>& setup = nullptr);

// The pspf error kind for a librdkafka error.
Errc errc_of(rd_kafka_resp_err_t err);
// Throws Error(errc_of(err), "<cluster>: <what>: <librdkafka's words>").
[[noreturn]] void fail(const Settings& s, std::string_view what, rd_kafka_resp_err_t err);

// The topic's partition count as the cluster says now, or nullopt when it has no
// such topic. Reads the metadata of all topics, so asking never creates the topic
// (a request naming it might, on a broker with auto.create.topics.enable).
std::optional<int32_t> partition_count(rd_kafka_t* rk, const Settings& s, std::string_view topic);
// The topics of the cluster, sorted, internal ones ("__consumer_offsets") left out.
std::vector<std::string> topic_names(rd_kafka_t* rk, const Settings& s);
// The first offset the partition holds and the next one it will give (the high
// watermark).
OffsetBounds watermarks(rd_kafka_t* rk, const Settings& s, std::string_view topic, PartitionId p);
// The first offset whose timestamp is >= `time`, or nullopt when there is none.
std::optional<Offset> offset_for_time(rd_kafka_t* rk, const Settings& s, std::string_view topic,
                                      PartitionId p, Timestamp time);
// Where a position (pspf-replay --from, pspf-consume --from) falls in partition p
// with bounds b: beginning, end, N (kept within the bounds), -N, or a time.
Offset resolve(rd_kafka_t* rk, const Settings& s, std::string_view topic, PartitionId p,
               const OffsetBounds& b, const Position& pos);

// Turns Kafka messages into records.
class RecordMaker {
 public:
  RecordMaker();
  ~RecordMaker();
  // Fills r from message m; r's views are valid until the next call. The value is
  // its JSON text, checked and made compact, kept as it is (kJsonTextExt, so that
  // printing it needs no parse); a value that is not JSON (written by another
  // client) becomes a JSON string of its bytes; a null value is nil.
  void convert(const rd_kafka_message_t* m, RecordView& r);

 private:
  Buffer json_;
  Buffer value_;
  Buffer headers_;
  std::vector<std::pair<std::string_view, std::string_view>> kv_;
};

// A pipe that a librdkafka queue writes to when it becomes non-empty, for poll(2).
class WakePipe {
 public:
  WakePipe();
  ~WakePipe();
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;
  int read_fd() const { return fds_[0]; }
  int write_fd() const { return fds_[1]; }
  // Makes q write a byte to the pipe when it goes from empty to non-empty.
  void watch(rd_kafka_queue_t* q) const;
  void drain() const;

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace pspf::kafka
