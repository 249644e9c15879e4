#include "pspf/topic.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <xxhash.h>
#include <nlohmann/json.hpp>

#include "pspf/clock.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/parse_int.h"
#include "pspf/paths.h"
#include "pspf/position.h"

namespace pspf {

DedupWindow parse_dedup_window(std::string_view text) {
  DedupWindow w;
  bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits) {
    if (text.size() > 18 || std::stoull(std::string(text)) == 0)
      throw Error(Errc::usage, fmt::format("invalid dedup window '{}': expected a number of events "
                                           "from 1, or a duration like 7d",
                                           text));
    w.events = std::stoull(std::string(text));
    w.ms = 0;
    return w;
  }
  w.ms = parse_duration_ms(text);
  if (w.ms <= 0)
    throw Error(Errc::usage,
                fmt::format("invalid dedup window '{}': it must be longer than 0", text));
  return w;
}

std::string format_dedup_window(const DedupWindow& w) {
  if (w.events > 0) return fmt::format("{} events", w.events);
  return format_duration_ms(w.ms);
}

CleanupPolicy parse_cleanup_policy(std::string_view text) {
  if (text == "delete") return {false, true};
  if (text == "compact") return {true, false};
  if (text == "compact,delete" || text == "delete,compact") return {true, true};
  throw Error(Errc::usage, fmt::format("invalid cleanup policy '{}': expected delete, compact or "
                                       "compact,delete",
                                       text));
}

std::string format_cleanup_policy(const CleanupPolicy& p) {
  if (p.compact && p.del) return "compact,delete";
  return p.compact ? "compact" : "delete";
}

int64_t parse_retention_ms(std::string_view text) {
  if (text == "none" || text == "-1") return -1;
  int64_t ms = parse_duration_ms(text);
  if (ms <= 0)
    throw Error(Errc::usage, fmt::format("invalid retention time '{}': it must be "
                                         "longer than 0 (or none)",
                                         text));
  return ms;
}

int64_t parse_retention_bytes(std::string_view text) {
  if (text == "none" || text == "-1") return -1;
  std::string_view digits = text;
  int shift = 0;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'k':
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      default: break;
    }
    if (shift) digits.remove_suffix(1);
  }
  bool ok = !digits.empty() && digits.size() <= 15 &&
            digits.find_first_not_of("0123456789") == std::string_view::npos;
  int64_t n = ok ? std::stoll(std::string(digits)) << shift : 0;
  if (n <= 0)
    throw Error(Errc::usage, fmt::format("invalid retention size '{}': expected a number of bytes "
                                         "from 1 (with an optional k, M or G), or none",
                                         text));
  return n;
}

namespace {

// The checksum of a topic file's fields (pspf-log(5) TOPIC FILE): XXH3-64, in 16
// lower-case hex digits, of the file as written without its "checksum" field. It
// catches a hand edit (a lowered partition count hides a partition and its ids).
std::string checksum_of(std::string_view fields_text) {
  return fmt::format("{:016x}", XXH3_64bits(fields_text.data(), fields_text.size()));
}

// The same for a file the JSON parser read (a hand-edited or older one): its fields
// written back the way topic_to_json writes them (nlohmann's dump(2)).
std::string topic_checksum(nlohmann::ordered_json j) {
  j.erase("checksum");
  return checksum_of(j.dump(2) + "\n");
}

// The text topic_to_json writes for `t` without the checksum field: a JSON object
// of one field a line, indented by two spaces (what nlohmann's dump(2) makes of
// it, so a hand-edited file is checked against the same form). The name needs no
// escaping (paths::check_name) and the policy is one of three words.
std::string fields_text(const TopicConfig& t) {
  paths::check_name(t.name);
  std::string dedup = t.dedup_window.events > 0
                          ? fmt::format("\"dedup_window_events\": {}", t.dedup_window.events)
                          : fmt::format("\"dedup_window_ms\": {}", t.dedup_window.ms);
  return fmt::format(
      "{{\n  \"format\": 1,\n  \"name\": \"{}\",\n  \"partitions\": {},\n  \"created\": {},\n"
      "  \"segment_bytes\": {},\n  {},\n  \"cleanup_policy\": \"{}\",\n  \"retention_ms\": {},\n"
      "  \"retention_bytes\": {},\n  \"delete_retention_ms\": {},\n"
      "  \"min_compaction_lag_ms\": {}\n}}\n",
      t.name, t.partitions, t.created_ms, t.segment_bytes, dedup, format_cleanup_policy(t.cleanup),
      t.retention_ms, t.retention_bytes, t.delete_retention_ms, t.min_compaction_lag_ms);
}

// Throws Error(corrupt) naming `path` when a field of `t` is out of range.
void check_ranges(const TopicConfig& t, const std::string& path) {
  if (t.retention_ms < -1 || t.retention_bytes < -1 || t.delete_retention_ms < 0 ||
      t.min_compaction_lag_ms < 0)
    throw Error(Errc::corrupt, path + ": a retention or compaction setting is out of range");
  if (t.partitions < 1 || t.partitions > kMaxPartitions || t.segment_bytes < 1 ||
      t.segment_bytes > kMaxSegmentBytes || t.dedup_window.ms < 0)
    throw Error(Errc::corrupt, path + ": partitions or segment_bytes out of range");
}

// Reads a file in exactly the form topic_to_json writes (every command reads
// topic.json, so this is on the path of every invocation: no document tree).
// Returns nullopt for any other text (an older file without a checksum, a hand
// edit, a bad checksum), which the JSON parser then reads and judges.
std::optional<TopicConfig> read_written_form(std::string_view text) {
  if (!text.starts_with("{\n")) return std::nullopt;
  TopicConfig t;
  std::string_view rest = text.substr(2);
  while (rest != "}\n") {
    size_t eol = rest.find('\n');
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 1);
    if (line.ends_with(',')) line.remove_suffix(1);
    size_t colon = line.find("\": ");
    if (!line.starts_with("  \"") || colon == std::string_view::npos) return std::nullopt;
    std::string_view key = line.substr(3, colon - 3), value = line.substr(colon + 3);
    bool quoted = value.size() >= 2 && value.front() == '"' && value.back() == '"';
    std::string_view str = quoted ? value.substr(1, value.size() - 2) : std::string_view();
    auto num = [&](auto& out) { return !quoted && parse_int(value, out); };
    int32_t format = 0;
    bool ok = false;
    if (key == "format")
      ok = num(format) && format == 1;
    else if (key == "name")
      ok = quoted, t.name = str;
    else if (key == "partitions")
      ok = num(t.partitions);
    else if (key == "created")
      ok = num(t.created_ms);
    else if (key == "segment_bytes")
      ok = num(t.segment_bytes);
    else if (key == "dedup_window_events")
      ok = num(t.dedup_window.events), t.dedup_window.ms = 0;
    else if (key == "dedup_window_ms")
      ok = num(t.dedup_window.ms);
    else if (key == "cleanup_policy")
      ok = quoted && (str == "delete" || str == "compact" || str == "compact,delete");
    else if (key == "retention_ms")
      ok = num(t.retention_ms);
    else if (key == "retention_bytes")
      ok = num(t.retention_bytes);
    else if (key == "delete_retention_ms")
      ok = num(t.delete_retention_ms);
    else if (key == "min_compaction_lag_ms")
      ok = num(t.min_compaction_lag_ms);
    else if (key == "checksum")
      ok = quoted;
    if (!ok) return std::nullopt;
    if (key == "cleanup_policy") t.cleanup = parse_cleanup_policy(str);
  }
  // Byte for byte what topic_to_json writes for these fields, checksum included:
  // then each field was read as the JSON parser reads it, and the checksum holds.
  try {
    if (topic_to_json(t) != text) return std::nullopt;
  } catch (const Error&) {
    return std::nullopt;  // a name topic_to_json would not write
  }
  return t;
}

}  // namespace

std::string topic_to_json(const TopicConfig& t) {
  std::string text = fields_text(t);
  std::string sum = checksum_of(text);
  text.resize(text.size() - 3);  // "\n}\n": the checksum is the last field
  return fmt::format("{},\n  \"checksum\": \"{}\"\n}}\n", text, sum);
}

TopicConfig topic_from_json(std::string_view text, const std::string& path) {
  if (std::optional<TopicConfig> t = read_written_form(text)) {
    check_ranges(*t, path);
    return *t;
  }
  // The JSON parser stops at a NUL byte: what follows one (a torn or padded write)
  // would otherwise go unseen.
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(Errc::corrupt,
                fmt::format("{}: not a valid topic file: a NUL byte at byte {}", path, nul));
  try {
    auto j = nlohmann::ordered_json::parse(text);
    // Files written before the checksum have none: they read as they always did.
    if (j.is_object() && j.contains("checksum")) {
      const auto& sum = j.at("checksum");
      std::string want = topic_checksum(j);
      if (!sum.is_string() || sum.get<std::string>() != want)
        throw Error(Errc::corrupt, fmt::format("{}: checksum mismatch (the file was changed "
                                               "outside pspf-topics; its fields cannot be "
                                               "trusted)",
                                               path));
    }
    TopicConfig t;
    t.name = j.at("name").get<std::string>();
    t.partitions = j.at("partitions").get<int32_t>();
    t.created_ms = j.value("created", int64_t{0});
    t.segment_bytes = j.value("segment_bytes", kDefaultSegmentBytes);
    t.dedup_window.events = j.value("dedup_window_events", uint64_t{0});
    t.dedup_window.ms =
        t.dedup_window.events ? 0 : j.value("dedup_window_ms", kDefaultDedupWindowMs);
    // Fields added with pspf-compact: an older topic.json reads with the defaults.
    if (j.contains("cleanup_policy")) {
      try {
        t.cleanup = parse_cleanup_policy(j.at("cleanup_policy").get<std::string>());
      } catch (const Error& e) {
        throw Error(Errc::corrupt, path + ": " + e.what());
      }
    }
    t.retention_ms = j.value("retention_ms", int64_t{-1});
    t.retention_bytes = j.value("retention_bytes", int64_t{-1});
    t.delete_retention_ms = j.value("delete_retention_ms", kDefaultDeleteRetentionMs);
    t.min_compaction_lag_ms = j.value("min_compaction_lag_ms", int64_t{0});
    if (j.value("format", 1) != 1)
      throw Error(Errc::corrupt, path + ": format " + std::to_string(j.value("format", 1)) +
                                     " is newer than this pspf understands");
    // A field this pspf does not know is read past when the checksum covers it (a
    // newer pspf added it). In a file without one (written before checksums, when
    // every field was known) it is damage, such as a flipped bit in "checksum" that
    // would leave the file unchecked, or a misspelling that would fall back to the
    // default: refused.
    static constexpr std::string_view kFields[] = {"format",
                                                   "name",
                                                   "partitions",
                                                   "created",
                                                   "segment_bytes",
                                                   "dedup_window_ms",
                                                   "dedup_window_events",
                                                   "cleanup_policy",
                                                   "retention_ms",
                                                   "retention_bytes",
                                                   "delete_retention_ms",
                                                   "min_compaction_lag_ms"};
    if (!j.contains("checksum"))
      for (const auto& [key, value] : j.items())
        if (std::find(std::begin(kFields), std::end(kFields), key) == std::end(kFields))
          throw Error(Errc::corrupt,
                      fmt::format("{}: unknown field \"{}\" in a file without a checksum (a "
                                  "damaged or hand-edited file: pspf-log(5) lists the fields)",
                                  path, key));
    check_ranges(t, path);
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw Error(Errc::corrupt, fmt::format("{}: not a valid topic file: {}", path, e.what()));
  }
}

TopicConfig create_topic(const std::string& dir, TopicConfig cfg) {
  std::string staged = stage_topic(dir, cfg);
  publish_topic(dir, staged, cfg);
  return cfg;
}

std::string stage_topic(const std::string& dir, TopicConfig& cfg) {
  paths::check_name(cfg.name);
  if (cfg.partitions < 1 || cfg.partitions > kMaxPartitions)
    throw Error(Errc::usage, fmt::format("invalid partition count {}: must be 1..{}",
                                         cfg.partitions, kMaxPartitions));
  if (cfg.segment_bytes < 1024 || cfg.segment_bytes > kMaxSegmentBytes)
    throw Error(Errc::usage, fmt::format("invalid segment size {}: must be 1024..{} bytes",
                                         cfg.segment_bytes, kMaxSegmentBytes));
  if (!path_exists(dir)) {
    make_dirs(dir);
    sync_dir(dir + "/..");
  }
  if (make_dir(paths::topics_dir(dir))) sync_dir(dir);
  if (path_exists(paths::topic_dir(dir, cfg.name)))
    throw Error(Errc::exists, fmt::format("topic '{}' already exists", cfg.name));
  cfg.created_ms = now_ms().value;
  // Build the whole topic under a name no reader looks at (publish_topic renames it
  // into place).
  // Temporaries live outside topics/ so that no topic name can collide with them.
  std::string tmp_root = paths::tmp_dir(dir);
  if (make_dir(tmp_root)) sync_dir(dir);
  std::string tmp = paths::tmp_entry(dir, "creating");
  remove_tree(tmp);
  make_dir(tmp);
  for (int32_t p = 0; p < cfg.partitions; ++p) make_dir(fmt::format("{}/{}", tmp, p));
  write_file_atomic(tmp + "/topic.json", topic_to_json(cfg));
  for (int32_t p = 0; p < cfg.partitions; ++p) sync_dir(fmt::format("{}/{}", tmp, p));
  sync_dir(tmp);
  return tmp;
}

void publish_topic(const std::string& dir, const std::string& staged, const TopicConfig& cfg) {
  try {
    rename_path(staged, paths::topic_dir(dir, cfg.name), false);
  } catch (const Error& e) {
    remove_tree(staged);
    if (e.code() == Errc::exists)
      throw Error(Errc::exists, fmt::format("topic '{}' already exists", cfg.name));
    throw;
  }
  sync_dir(paths::topics_dir(dir));
}

std::optional<TopicConfig> find_topic(const std::string& dir, std::string_view name) {
  std::string meta = paths::topic_meta(dir, name);
  if (!path_exists(meta)) return std::nullopt;
  return topic_from_json(read_small_file(meta), meta);
}

TopicConfig load_topic(const std::string& dir, std::string_view name) {
  auto t = find_topic(dir, name);
  if (!t)
    throw Error(Errc::not_found,
                fmt::format("topic '{}' does not exist in {} (pspf-topics list shows the topics "
                            "there)",
                            name, dir));
  return *t;
}

TopicConfig alter_topic(const std::string& dir, std::string_view name,
                        const std::function<void(TopicConfig&)>& change) {
  load_topic(dir, name);  // not_found before a lock file is made
  FileLock lock(paths::topic_dir(dir, name) + "/lock");
  lock.lock();
  UnlockOnExit unlock(lock);
  // Temporaries of topic.json a killed alter left (only alter writes it, under this
  // lock; their names are random, so no later run would reuse them).
  std::string topic_dir = paths::topic_dir(dir, name);
  for (const auto& n : list_dir(topic_dir))
    if (n.rfind("topic.json.tmp.", 0) == 0) remove_file(topic_dir + "/" + n);
  TopicConfig t = load_topic(dir, name);
  TopicConfig before = t;
  change(t);
  if (t.name != before.name || t.partitions != before.partitions)
    throw Error(Errc::usage, "the name and partition count of a topic cannot change");
  if (t.segment_bytes < 1024 || t.segment_bytes > kMaxSegmentBytes)
    throw Error(Errc::usage, fmt::format("invalid segment size {}: must be 1024..{} bytes",
                                         t.segment_bytes, kMaxSegmentBytes));
  write_file_atomic(paths::topic_meta(dir, name), topic_to_json(t));
  return t;
}

PartitionDirs check_partition_dirs(const std::string& dir, const TopicConfig& t) {
  PartitionDirs out;
  std::string topic = paths::topic_dir(dir, t.name);
  std::vector<bool> seen(static_cast<size_t>(t.partitions), false);
  auto names = list_dir(topic);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    // A partition directory is named by its number, written the usual way.
    bool canonical = name.size() <= 5 && (name == "0" || name[0] != '0');
    int32_t p = canonical ? std::stoi(name) : -1;
    struct stat st;
    bool dir_entry = ::lstat((topic + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (p >= 0 && p < t.partitions && dir_entry)
      seen[static_cast<size_t>(p)] = true;
    else
      out.extra.emplace_back(name, topic + "/" + name);
  }
  for (int32_t p = 0; p < t.partitions; ++p)
    if (!seen[static_cast<size_t>(p)])
      out.missing.emplace_back(p, paths::partition_dir(dir, t.name, PartitionId(p)));
  return out;
}

std::vector<std::string> list_topics(const std::string& dir) {
  std::vector<std::string> out;
  std::string topics = paths::topics_dir(dir);
  if (!path_exists(topics)) return out;
  for (auto& name : list_dir(topics)) {
    if (path_exists(topics + "/" + name + "/topic.json")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void delete_topic(const std::string& dir, std::string_view name) {
  std::string final_dir = paths::topic_dir(dir, name);
  if (!path_exists(final_dir + "/topic.json"))
    throw Error(Errc::not_found, fmt::format("topic '{}' does not exist in {}", name, dir));
  remove_tree_at_once(final_dir, paths::tmp_entry(dir, "deleting"));
}

}  // namespace pspf
