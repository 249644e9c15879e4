// TransformOutput: the output side of pspf-consume --exec CMD --to OUT. The lines a
// command printed for one input batch become events of OUT, each with an id derived
// from where it came from: group, topic, partition, the batch's offset range and the
// line's position. The same batch processed again (after a crash between this append
// and the commit of the input offsets) yields the same ids, so OUT's deduplication
// leaves the second copy out: exactly once inside the log, provided the command
// prints the same lines for the same input. On Kafka, the output and the input
// offset are written in one transaction instead (Log::output_producer), so a batch
// processed again finds no earlier output to leave out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pspf/buffer.h"
#include "pspf/consumer.h"
#include "pspf/json_codec.h"
#include "pspf/log.h"
#include "pspf/producer.h"

namespace pspf {

class TransformOutput {
 public:
  // Opens OUT (creating it with `partitions` when missing). `key_field`, when not
  // empty, is the dot path of the output key.
  TransformOutput(Log& log, const std::string& out_topic, int32_t partitions, std::string key_field,
                  std::string group, std::string source_topic);

  // Appends the JSON lines of `output` (from the batch [first, last] of partition p)
  // and makes them durable. Returns why not when a line is not valid JSON or has no
  // key; then nothing of this batch is appended.
  std::optional<std::string> append(PartitionId p, Offset first, Offset last,
                                    std::string_view output);

  // What deliver() did: `failed` says why nothing of the batch was committed (bad
  // output, or an aborted transaction); otherwise `committed` is false when the input
  // partition was taken over before its offset could be committed.
  struct Delivery {
    std::optional<std::string> failed;
    bool committed = false;
  };
  // Appends the output of the batch [first, next) of input partition p, then commits
  // `next` for p through `input` (Producer::commit_input).
  Delivery deliver(Consumer& input, PartitionId p, Offset first, Offset next,
                   std::string_view output);

  uint64_t appended() const { return producer_->appended(); }
  uint64_t duplicates() const { return producer_->duplicates(); }
  const std::string& topic() const { return producer_->topic().name; }

 private:
  static TopicConfig open(Log& log, const std::string& name, int32_t partitions);

  std::unique_ptr<Producer> producer_;
  std::string key_field_;
  std::string group_;
  std::string source_;
  JsonToMsgpack codec_;
  std::string padded_;
  Buffer values_;
};

}  // namespace pspf
