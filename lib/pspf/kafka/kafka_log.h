// KafkaLog: the Log (log.h) of a Kafka (or Redpanda) cluster, through librdkafka.
// The commands choose it with -b/--brokers (or PSPF_BROKERS); everything else they
// do is the same. Topics are Kafka topics and consumer groups are Kafka consumer
// groups; records map as kafka_client.h says.
//
// What differs from the local log (pspf.7 KAFKA):
//   - No per-key expected version (pspf-produce --expect-version) and no resumable
//     import (--producer-id): Kafka has no per-key check. Both are refused.
//   - Event ids travel as the "pspf-id" header; the cluster does not deduplicate
//     them. Retries inside one run do not duplicate (the producer is idempotent).
//   - Compaction and retention are the brokers' job (the topic's cleanup.policy);
//     pspf-compact says how, and pspf-topics verify/repair have nothing to check.
//   - An event counts as written when every in-sync replica has it (acks=all);
//     --sync does not apply.
//   - pspf-consume --exec --to writes each batch's output and its input offset in
//     one Kafka transaction (output_producer) instead of deduplicating derived ids.
#pragma once

#include <memory>

#include "pspf/kafka/kafka_client.h"
#include "pspf/log.h"

namespace pspf {

// The log of the cluster `s` names. Connects lazily: the first call that needs the
// cluster fails with Error(io) when no broker answers within s.timeout_ms.
std::unique_ptr<Log> open_kafka_log(kafka::Settings s);

}  // namespace pspf
