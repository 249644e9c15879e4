// Log: the one entry point the commands use to reach a log, so that no tool knows a
// path, a file or a lock. This is the seam between "a log" and "where it lives"; the
// local data directory is the implementation today.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/partition.h"
#include "pspf/topic.h"
#include "pspf/types.h"

namespace pspf {

class Log {
 public:
  // `dir` is the data directory (it need not exist until something is created).
  explicit Log(std::string dir);

  const std::string& dir() const { return dir_; }

  std::optional<TopicConfig> find_topic(std::string_view name) const;
  // Throws Error(not_found) with a hint.
  TopicConfig topic(std::string_view name) const;
  TopicConfig create_topic(const TopicConfig& cfg);
  // The topic, created with `partitions` when missing (`created` says which). Two
  // processes racing to create it both end up using the one that won.
  TopicConfig open_or_create(std::string_view name, int32_t partitions, bool& created);
  std::vector<std::string> list_topics() const;
  void delete_topic(std::string_view name);

  std::unique_ptr<PartitionWriter> writer(const TopicConfig& t, PartitionId p) const;
  std::unique_ptr<PartitionReader> reader(const TopicConfig& t, PartitionId p) const;
  PartitionScan scan(const TopicConfig& t, PartitionId p, bool verify_indexes) const;
  PartitionScan repair(const TopicConfig& t, PartitionId p) const;

  // "topic T partition P", the way every message names a partition.
  static std::string label(const TopicConfig& t, PartitionId p);

 private:
  std::string dir_;
};

}  // namespace pspf
