#include "pspf/log.h"

#include <utility>

#include "pspf/producer.h"

#include <fmt/format.h>

#include "pspf/consumer.h"
#include "pspf/error.h"
#include "pspf/murmur2.h"

namespace pspf {

TopicConfig Log::open_or_create(std::string_view name, int32_t partitions, bool& created) {
  created = false;
  if (auto t = find_topic(name)) return *t;
  TopicConfig cfg;
  cfg.name = std::string(name);
  cfg.partitions = partitions;
  try {
    TopicConfig t = create_topic(cfg);
    created = true;
    return t;
  } catch (const Error& e) {
    if (e.code() != Errc::exists) throw;
    return topic(name);  // another process created it first: use theirs
  }
}

TopicConfig create_routed_topic(std::function<TopicConfig()>& create, const TopicConfig& routed) {
  auto made = std::exchange(create, nullptr);
  TopicConfig t = made();
  if (t.partitions != routed.partitions)
    throw Error(Errc::exists, fmt::format("topic {} was created meanwhile by another process, "
                                          "with {} partitions instead of {}",
                                          t.name, t.partitions, routed.partitions));
  return t;
}

std::optional<PartitionId> route_fixed(const std::string_view* key, const std::string_view* id,
                                       uint64_t seq, bool resumable, int32_t partitions) {
  if (key) return partition_for_key(*key, partitions);
  if (id) return partition_for_key(*id, partitions);
  // A resumable import must send a record with neither key nor id where the first
  // run sent it: by its position in the input, not by the (per-process) sticky
  // partition.
  if (resumable && seq > 0)
    return PartitionId(static_cast<int32_t>((seq - 1) / Producer::kResumeSpread % partitions));
  return std::nullopt;
}

std::string Log::label(const TopicConfig& t, PartitionId p) {
  return fmt::format("topic {} partition {}", t.name, p.value);
}

std::vector<PartitionId> Consumer::commit_all(
    const std::vector<std::pair<PartitionId, Offset>>& next) {
  std::vector<PartitionId> refused;
  for (const auto& [p, o] : next)
    if (!commit(p, o)) refused.push_back(p);
  return refused;
}

size_t Consumer::poll_until(PartitionId, Offset, const std::function<void(const RecordView&)>&) {
  throw Error(Errc::usage, "this consumer announces no batches");
}

InputCommit Producer::commit_input(Consumer& input, PartitionId p, Offset next) {
  flush();
  InputCommit c;
  if (!input.commit(p, next)) c.outcome = InputCommit::taken_over;
  return c;
}

std::unique_ptr<Producer> Log::output_producer(const TopicConfig& t, const std::string&) const {
  return producer(t, SyncMode::batch);
}

}  // namespace pspf
