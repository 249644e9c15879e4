// Topic: a named set of partitions with its settings in topic.json. A topic appears
// whole or not at all: it is built in a temporary directory (topic.json and every
// partition directory) and renamed into place, so a reader never sees half a topic
// and two processes creating the same topic at once end up with one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pspf {

inline constexpr uint64_t kDefaultSegmentBytes = 64ull << 20;
inline constexpr int32_t kMaxPartitions = 10000;
// Index positions are 32-bit: a segment stays well below 4 GiB.
inline constexpr uint64_t kMaxSegmentBytes = 1ull << 30;
// An event id is remembered this long by default: a week of retries of a failed import.
inline constexpr int64_t kDefaultDedupWindowMs = 7ll * 24 * 3600 * 1000;

// How far back an event id counts as already appended: the events appended in the
// last `ms` milliseconds, or (when `events` > 0) the last `events` events of the
// partition.
struct DedupWindow {
  int64_t ms = kDefaultDedupWindowMs;
  uint64_t events = 0;
};
// Parses "7d", "36h" (a duration) or "10000000" (a count of events). Throws Error(usage).
DedupWindow parse_dedup_window(std::string_view text);
std::string format_dedup_window(const DedupWindow& w);

// What pspf-compact does to a topic: remove old segments (delete), keep the latest
// record per key (compact), or both.
struct CleanupPolicy {
  bool compact = false;
  bool del = true;
  bool operator==(const CleanupPolicy&) const = default;
};
// Parses "delete", "compact", "compact,delete" (or "delete,compact"). Throws Error(usage).
CleanupPolicy parse_cleanup_policy(std::string_view text);
std::string format_cleanup_policy(const CleanupPolicy& p);

// A tombstone is kept this long by default after its append (Kafka's delete.retention.ms).
inline constexpr int64_t kDefaultDeleteRetentionMs = 24ll * 3600 * 1000;

struct TopicConfig {
  std::string name;
  int32_t partitions = 1;
  int64_t created_ms = 0;
  uint64_t segment_bytes = kDefaultSegmentBytes;
  DedupWindow dedup_window;
  CleanupPolicy cleanup;
  // Retention (cleanup delete): a closed segment whose newest record is older than
  // retention_ms, or whose newer segments hold retention_bytes or more, is removed.
  // -1: no limit.
  int64_t retention_ms = -1;
  int64_t retention_bytes = -1;
  // Compaction: tombstones are dropped once this old; records younger than the lag
  // are never compacted.
  int64_t delete_retention_ms = kDefaultDeleteRetentionMs;
  int64_t min_compaction_lag_ms = 0;
};

// A retention limit: "none" (or "-1") is -1, else a duration (parse_duration_ms) or,
// for bytes, a whole number with an optional k/M/G suffix (powers of 1024). Throws
// Error(usage).
int64_t parse_retention_ms(std::string_view text);
int64_t parse_retention_bytes(std::string_view text);

// The topic.json text of `t`, with its checksum.
std::string topic_to_json(const TopicConfig& t);
// Parses topic.json text; throws Error(corrupt) naming `path` when it is not valid or
// its checksum (when it has one) does not match its fields.
TopicConfig topic_from_json(std::string_view text, const std::string& path);

// Creates a topic in data directory `dir` (creating `dir` itself if needed). Throws
// Error(exists) when it exists, Error(usage) for a bad name or partition count.
// The same as stage_topic() then publish_topic() with nothing in between.
TopicConfig create_topic(const std::string& dir, TopicConfig cfg);
// A topic made whole where no reader looks, to be filled before it appears:
//   1. stage_topic() builds it in a new directory under `dir`/tmp (topic.json and
//      the empty partition directories, synced; `cfg` gets its creation time) and
//      returns that directory, laid out as topics/NAME is;
//   2. the caller fills its partitions and syncs what it wrote;
//   3. publish_topic() renames it to topics/NAME, never over a topic that is there
//      (Error(exists)), and syncs topics/.
// A process that dies before 3 leaves a directory in tmp/, never a topic; on a
// failure, the caller removes the staged directory (remove_tree).
// stage_topic() throws as create_topic() does.
std::string stage_topic(const std::string& dir, TopicConfig& cfg);
void publish_topic(const std::string& dir, const std::string& staged, const TopicConfig& cfg);
// The topic's settings, or nullopt when it does not exist.
std::optional<TopicConfig> find_topic(const std::string& dir, std::string_view name);
// Like find_topic but throws Error(not_found).
TopicConfig load_topic(const std::string& dir, std::string_view name);
// Changes a topic's settings: `change` edits them (the name and partition count
// cannot change) and topic.json is replaced atomically under the topic's lock.
// Returns the new settings. Throws not_found, usage.
TopicConfig alter_topic(const std::string& dir, std::string_view name,
                        const std::function<void(TopicConfig&)>& change);
// How the partition directories of topic `t` in data directory `dir` disagree with
// its partition count: partitions without a directory, and numeric entries that are
// not a partition of the topic (paths, sorted; a partition hidden by a lowered count).
struct PartitionDirs {
  std::vector<std::pair<int32_t, std::string>> missing;    // partition, its directory
  std::vector<std::pair<std::string, std::string>> extra;  // name, path
};
PartitionDirs check_partition_dirs(const std::string& dir, const TopicConfig& t);

// Names of all topics, sorted.
std::vector<std::string> list_topics(const std::string& dir);
// Removes a topic (renamed away first, so it disappears at once). Throws not_found.
void delete_topic(const std::string& dir, std::string_view name);

}  // namespace pspf
