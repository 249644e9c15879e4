// The Kafka backend's producer, reader and group member (kafka_log.h), made by
// KafkaLog.
#pragma once

#include <memory>
#include <string>

#include "pspf/consumer.h"
#include "pspf/kafka/kafka_client.h"
#include "pspf/position.h"
#include "pspf/producer.h"
#include "pspf/topic.h"
#include "pspf/topic_reader.h"

namespace pspf::kafka {

// `transactional_id` empty: an idempotent producer. Otherwise a transactional one
// for pspf-consume --exec --to: its commit_input() writes the queued records and the
// input offset in one transaction.
std::unique_ptr<Producer> make_producer(const Settings& s, const TopicConfig& t,
                                        const std::string& transactional_id = {});

// The client of an idempotent producer, made before the producer so that the same
// client can look its topic up first (a client costs a connection and a metadata
// round trip: about 5 ms). Delivery reports reach the producer that adopts it.
struct ProducerClient {
  struct Sink;  // where the client's delivery reports go
  std::shared_ptr<rd_kafka_t> handle;
  std::shared_ptr<Sink> sink;
};
ProducerClient make_producer_client(const Settings& s);
// An idempotent producer through `client` (a client serves one producer at a time).
std::unique_ptr<Producer> make_producer(const Settings& s, const TopicConfig& t,
                                        ProducerClient client);

// What a transactional producer needs of the group member whose offsets it commits
// (the Kafka group member made by make_consumer).
class TransactionInput {
 public:
  virtual ~TransactionInput() = default;
  // The group's identity for a transactional offset commit (librdkafka's consumer
  // group metadata: group, member, generation); the caller destroys it.
  virtual rd_kafka_consumer_group_metadata_t* group_metadata() const = 0;
  virtual const std::string& input_topic() const = 0;
  virtual bool owns(PartitionId p) const = 0;
  // A transaction committed `next` for p.
  virtual void committed_in_transaction(PartitionId p, Offset next) = 0;
};
std::unique_ptr<TopicReader> make_reader(const Settings& s, const TopicConfig& t, ReadOptions o);
std::unique_ptr<Consumer> make_consumer(const Settings& s, const std::string& group,
                                        const TopicConfig& t, Position from, bool stop_at_start_end,
                                        bool commit);

// A consumer handle of `group` that never joins it: for reading and setting its
// committed offsets.
Handle group_admin_handle(const Settings& s, const std::string& group);

}  // namespace pspf::kafka
