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

std::unique_ptr<Producer> make_producer(const Settings& s, const TopicConfig& t);
std::unique_ptr<TopicReader> make_reader(const Settings& s, const TopicConfig& t, ReadOptions o);
std::unique_ptr<Consumer> make_consumer(const Settings& s, const std::string& group,
                                        const TopicConfig& t, Position from, bool stop_at_start_end,
                                        bool commit);

// A consumer handle of `group` that never joins it: for reading and setting its
// committed offsets.
Handle group_admin_handle(const Settings& s, const std::string& group);

}  // namespace pspf::kafka
