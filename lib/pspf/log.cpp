#include "pspf/log.h"

#include <fmt/format.h>

#include "pspf/error.h"

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

std::string Log::label(const TopicConfig& t, PartitionId p) {
  return fmt::format("topic {} partition {}", t.name, p.value);
}

}  // namespace pspf
