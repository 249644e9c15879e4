// pspf-topics: create, alter, list, describe, delete, verify and repair topics
// (pspf-topics(1)).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <optional>

#include "common/options.h"
#include "common/output.h"
#include "common/tool.h"
#include "pspf/error.h"
#include "pspf/log.h"
#include "pspf/position.h"

using namespace pspf;
using json = nlohmann::ordered_json;

namespace {

std::string when(Timestamp t, bool any) { return any ? format_iso8601(t) : "-"; }

// "cleanup compact,delete, retention 7d / none, tombstones kept 1d, compaction lag 0s"
std::string cleanup_text(const TopicConfig& t) {
  return fmt::format("cleanup {}, retention {} / {}, tombstones kept {}, compaction lag {}",
                     format_cleanup_policy(t.cleanup),
                     t.retention_ms < 0 ? "none" : format_duration_ms(t.retention_ms),
                     t.retention_bytes < 0 ? "none" : fmt::format("{} bytes", t.retention_bytes),
                     format_duration_ms(t.delete_retention_ms),
                     format_duration_ms(t.min_compaction_lag_ms));
}

json partition_json(const TopicConfig& t, int32_t p, const PartitionScan& s) {
  json j;
  j["partition"] = p;
  j["start"] = s.start.value;
  j["end"] = s.end.value;
  j["records"] = s.records;
  j["bytes"] = s.bytes;
  j["segments"] = s.segments;
  j["first_append"] = s.records ? json(s.first_timestamp.value) : json(nullptr);
  j["last_append"] = s.records ? json(s.last_timestamp.value) : json(nullptr);
  (void)t;
  return j;
}

int describe(const Log& log, const std::string& name, bool as_json) {
  TopicConfig t = log.topic(name);
  auto& out = tool::stdout_output();
  json parts = json::array();
  std::string table = fmt::format(
      "topic {}: {} partition{}, segments of {} bytes, dedup window {}\n", t.name, t.partitions,
      t.partitions == 1 ? "" : "s", t.segment_bytes, format_dedup_window(t.dedup_window));
  table += cleanup_text(t) + "\n";
  table +=
      fmt::format("{:>9} {:>12} {:>12} {:>12} {:>14} {:>8}  {:<24}  {:<24}\n", "PARTITION", "START",
                  "END", "RECORDS", "BYTES", "SEGMENTS", "FIRST-APPEND", "LAST-APPEND");
  for (int32_t p = 0; p < t.partitions; ++p) {
    PartitionScan s = log.scan(t, PartitionId(p), false);
    if (s.damaged)
      throw Error(Errc::corrupt, fmt::format("{}: {}", Log::label(t, PartitionId(p)), s.damage));
    parts.push_back(partition_json(t, p, s));
    table += fmt::format("{:>9} {:>12} {:>12} {:>12} {:>14} {:>8}  {:<24}  {:<24}\n", p,
                         s.start.value, s.end.value, s.records, s.bytes, s.segments,
                         when(s.first_timestamp, s.records), when(s.last_timestamp, s.records));
  }
  if (as_json) {
    json j;
    j["topic"] = t.name;
    j["partitions"] = t.partitions;
    j["segment_bytes"] = t.segment_bytes;
    j["created"] = t.created_ms;
    j["dedup_window"] = format_dedup_window(t.dedup_window);
    j["cleanup_policy"] = format_cleanup_policy(t.cleanup);
    j["retention_ms"] = t.retention_ms;
    j["retention_bytes"] = t.retention_bytes;
    j["delete_retention_ms"] = t.delete_retention_ms;
    j["min_compaction_lag_ms"] = t.min_compaction_lag_ms;
    j["partition_details"] = parts;
    out.write(j.dump() + "\n");
  } else {
    out.write(table);
  }
  return tool::kExitOk;
}

// verify's exit status when the worst it found is a suspect last batch (a complete
// batch whose checksum fails): maybe damage to acknowledged events, maybe a write a
// crash lost; neither plain torn tail (0) nor damage (1).
constexpr int kExitSuspect = 4;

// Verifies topics; returns 1 when any damage was found, else kExitSuspect when a
// suspect last batch was.
int verify(const Log& log, std::vector<std::string> names, bool as_json) {
  if (names.empty()) names = log.list_topics();
  auto& out = tool::stdout_output();
  bool bad = false, suspect = false;
  json report = json::array();
  for (const auto& name : names) {
    TopicConfig t = log.topic(name);
    PartitionDirs dirs = log.check_partition_dirs(t);
    auto missing = dirs.missing.begin();
    for (int32_t p = 0; p < t.partitions; ++p) {
      std::string label = Log::label(t, PartitionId(p));
      if (missing != dirs.missing.end() && missing->first == p) {
        bad = true;
        std::string problem = fmt::format("partition directory {} is missing", (missing++)->second);
        report.push_back(
            {{"topic", t.name}, {"partition", p}, {"status", "damaged"}, {"problem", problem}});
        if (!as_json) out.write(fmt::format("{}: DAMAGED: {}\n", label, problem));
        continue;
      }
      PartitionScan s = log.scan(t, PartitionId(p), true);
      json j = partition_json(t, p, s);
      j = json{{"topic", t.name}, {"partition", p}, {"status", "ok"}, {"records", s.records}};
      // One line per partition (pspf-topics(1)): what is wrong with the log, then
      // what is wrong with its indexes.
      std::string line;
      if (!s.damaged && !s.problems.empty()) {
        // The log reads, but what key versions are rebuilt from is wrong.
        bad = true;
        j["status"] = "damaged";
        j["problem"] = s.problems.front();
        j["problems"] = s.problems;
        line = fmt::format("{}: DAMAGED: {} (pspf-topics repair cannot mend this)", label,
                           fmt::join(s.problems, "; "));
      } else if (s.damaged) {
        bad = true;
        j["status"] = "damaged";
        j["problem"] = s.damage;
        j["segment"] = s.damaged_segment;
        j["position"] = s.damage_position;
        j["bytes_after"] = s.bytes_after_damage;
        line = s.bytes_after_damage == 0
                   ? fmt::format("{}: DAMAGED: {} (pspf-topics repair {} gives them up)", label,
                                 s.damage, t.name)
                   : fmt::format(
                         "{}: DAMAGED: {} ({} bytes from there on; pspf-topics repair {} "
                         "cuts them off)",
                         label, s.damage, s.bytes_after_damage, t.name);
      } else if (s.suspect_tail) {
        suspect = true;
        j["status"] = "suspect-tail";
        j["problem"] = s.damage;
        j["segment"] = s.damaged_segment;
        j["position"] = s.damage_position;
        j["bytes_after"] = s.bytes_after_damage;
        line = fmt::format(
            "{}: SUSPECT: {} ({} bytes: a write a crash lost, or damage to "
            "acknowledged events; pspf-topics repair {} moves them to a "
            "quarantine file)",
            label, s.damage, s.bytes_after_damage, t.name);
      } else if (s.torn_tail) {
        j["status"] = "torn-tail";
        j["problem"] = s.damage;
        line = fmt::format("{}: ok, {} records; note: {} (the next append cuts it off)", label,
                           s.records, s.damage);
      } else {
        line = fmt::format("{}: ok, {} records", label, s.records);
      }
      if (s.cut_pending) {
        j["cut_pending"] = s.cut_pending->value;
        line += fmt::format(
            "; note: the records from offset {} on are being cut (a sync of them failed, "
            "and the process cutting them was stopped; the next writer or member, or "
            "pspf-topics repair, finishes the cut)",
            s.cut_pending->value);
      }
      if (!s.index_problems.empty()) {
        bad = true;
        std::string problems = fmt::format("{} (pspf-topics repair {} rebuilds the indexes)",
                                           fmt::join(s.index_problems, "; "), t.name);
        if (j["status"] == "ok") {
          j["status"] = "index-damaged";
          line = fmt::format("{}: INDEX: {}; {} records, readable", label, problems, s.records);
        } else {
          line += "; INDEX: " + problems;
        }
        j["index_problems"] = s.index_problems;
      }
      if (!as_json) out.write(line + "\n");
      report.push_back(j);
    }
    // A directory a lowered partition count hides: its records (and ids) are unread.
    for (const auto& [dir_name, path] : dirs.extra) {
      bad = true;
      std::string problem = fmt::format(
          "{} is not a partition of the topic (topic.json says {} "
          "partition{})",
          path, t.partitions, t.partitions == 1 ? "" : "s");
      // A number as a number, like the other entries; "007" stays a string.
      bool number = dir_name.size() <= 9 && (dir_name == "0" || dir_name[0] != '0');
      report.push_back({{"topic", t.name},
                        {"partition", number ? json(std::stol(dir_name)) : json(dir_name)},
                        {"status", "damaged"},
                        {"problem", problem}});
      if (!as_json)
        out.write(fmt::format("topic {} partition {}: DAMAGED: {}\n", t.name, dir_name, problem));
    }
  }
  if (as_json) out.write(report.dump() + "\n");
  return bad ? tool::kExitFailure : suspect ? kExitSuspect : tool::kExitOk;
}

int repair(const Log& log, const std::string& name, bool dry_run) {
  TopicConfig t = log.topic(name);
  auto& out = tool::stdout_output();
  bool unmendable = false;
  for (int32_t p = 0; p < t.partitions; ++p) {
    std::string label = Log::label(t, PartitionId(p));
    PartitionScan s = log.scan(t, PartitionId(p), true);
    for (const auto& problem : s.problems) {
      unmendable = true;
      out.write(fmt::format("{}: {}: cutting the log cannot mend this\n", label, problem));
    }
    if ((s.damaged || s.torn_tail) && s.bytes_after_damage > 0)
      out.write(
          fmt::format("{}: {}: cutting {} bytes from byte {} of {} on (offsets from {} on) "
                      "into quarantine files\n",
                      label, s.damage, s.bytes_after_damage, s.damage_position, s.damaged_segment,
                      s.end.value));
    else if (s.damaged)
      out.write(fmt::format("{}: {}\n", label, s.damage));
    // Said once it is so: a repair that fails (no room for the quarantine file) gives
    // nothing up.
    std::string lost;
    if (s.damaged && s.durable && *s.durable > s.end)
      lost = fmt::format("{}: offsets {} to {} are lost: the durable end goes back from {} to {}\n",
                         label, s.end.value, s.durable->value - 1, s.durable->value, s.end.value);
    if (dry_run) out.write(lost);
    if (!s.index_problems.empty())
      out.write(
          fmt::format("{}: rebuilding indexes ({} bad entries)\n", label, s.index_problems.size()));
    if (s.cut_pending)
      out.write(
          fmt::format("{}: finishing the cut of the records from offset {} on, which a "
                      "failed sync covered\n",
                      label, s.cut_pending->value));
    if (!s.damaged && !s.torn_tail && s.index_problems.empty() && !s.cut_pending) {
      if (!s.problems.empty()) continue;
      out.write(fmt::format("{}: ok, nothing to repair\n", label));
      continue;
    }
    out.flush();  // say what will be cut before cutting it
    if (dry_run) continue;
    for (const auto& q : log.repair(t, PartitionId(p)).quarantined)
      out.write(fmt::format("{}: quarantined in {}\n", label, q));
    out.write(lost);
  }
  if (dry_run) out.write("dry run: nothing changed\n");
  return unmendable ? tool::kExitFailure : tool::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, name;
  std::vector<std::string> names;
  int32_t partitions = 0;
  uint64_t segment_bytes = kDefaultSegmentBytes;
  std::optional<uint64_t> new_segment_bytes;
  std::optional<std::string> dedup_window, cleanup, retention_time, retention_bytes,
      delete_retention, min_lag;
  bool if_not_exists = false, as_json = false, dry_run = false;

  tool::cli::App app{"Create, alter, list, describe, delete, verify and repair topics.",
                     "pspf-topics"};
  tool::add_common_options(app, dir);
  app.require_subcommand();
  auto* create = app.add_subcommand("create", "create a topic");
  create->add_option("topic", name, "topic name")->required();
  create->add_option("-P,--partitions", partitions, "number of partitions")->required();
  create->add_option("--segment-bytes", segment_bytes, "segment size (default 67108864)");
  create->add_option("--dedup-window", dedup_window,
                     "how long an event id is remembered: a duration (7d, the default) or a "
                     "number of events");
  auto cleanup_options = [&](tool::cli::App* sub) {
    sub->add_option("--cleanup", cleanup,
                    "cleanup policy: delete (the default), compact, "
                    "compact,delete");
    sub->add_option("--retention-time", retention_time,
                    "delete: remove segments older than this (7d), or none (the default)");
    sub->add_option("--retention-bytes", retention_bytes,
                    "delete: keep this much per partition (10G), or none (the default)");
    sub->add_option("--delete-retention", delete_retention,
                    "compact: keep tombstones this long (default 1d)");
    sub->add_option("--min-compaction-lag", min_lag,
                    "compact: never compact records younger than this (default 0s)");
  };
  cleanup_options(create);
  create->add_flag("--if-not-exists", if_not_exists, "succeed when the topic exists");
  auto* alter = app.add_subcommand("alter", "change a topic's settings");
  alter->add_option("topic", name, "topic name")->required();
  alter->add_option("--segment-bytes", new_segment_bytes, "segment size for new segments");
  alter->add_option("--dedup-window", dedup_window, "a duration (7d) or a number of events");
  cleanup_options(alter);
  auto* list = app.add_subcommand("list", "list topics");
  list->add_flag("--json", as_json, "JSON output");
  auto* desc = app.add_subcommand("describe", "partitions, offsets, records, bytes");
  desc->add_option("topic", name, "topic name")->required();
  desc->add_flag("--json", as_json, "JSON output");
  auto* del = app.add_subcommand("delete", "delete a topic and all its data");
  del->add_option("topic", name, "topic name")->required();
  auto* ver = app.add_subcommand("verify", "check every checksum and index");
  ver->add_option("topics", names, "topics (default: all)");
  ver->add_flag("--json", as_json, "JSON output");
  auto* rep = app.add_subcommand("repair", "cut damaged partitions back to their last good batch");
  rep->add_option("topic", name, "topic name")->required();
  rep->add_flag("--dry-run", dry_run, "only say what would be dropped");

  // The cleanup options given, applied to a topic's settings. Throws Error(usage).
  auto apply_cleanup = [&](TopicConfig& c) {
    if (cleanup) c.cleanup = parse_cleanup_policy(*cleanup);
    if (retention_time) c.retention_ms = parse_retention_ms(*retention_time);
    if (retention_bytes) c.retention_bytes = parse_retention_bytes(*retention_bytes);
    if (delete_retention) c.delete_retention_ms = parse_duration_ms(*delete_retention);
    if (min_lag) c.min_compaction_lag_ms = parse_duration_ms(*min_lag);
  };

  return tool::run_tool("pspf-topics", app, argc, argv, [&]() -> int {
    std::unique_ptr<Log> opened = tool::open_log(dir);
    Log& log = *opened;
    auto& out = tool::stdout_output();
    if (*create) {
      if (if_not_exists && log.find_topic(name)) return tool::kExitOk;
      TopicConfig cfg;
      cfg.name = name;
      cfg.partitions = partitions;
      cfg.segment_bytes = segment_bytes;
      if (dedup_window) cfg.dedup_window = parse_dedup_window(*dedup_window);
      apply_cleanup(cfg);
      log.create_topic(cfg);
      tool::note(fmt::format("created topic {} with {} partition{}", name, partitions,
                             partitions == 1 ? "" : "s"));
      return tool::kExitOk;
    }
    if (*alter) {
      std::optional<DedupWindow> window;
      if (dedup_window) window = parse_dedup_window(*dedup_window);
      TopicConfig probe;
      apply_cleanup(probe);  // usage errors before the lock
      TopicConfig t = log.alter_topic(name, [&](TopicConfig& c) {
        if (new_segment_bytes) c.segment_bytes = *new_segment_bytes;
        if (window) c.dedup_window = *window;
        apply_cleanup(c);
      });
      tool::note(fmt::format("topic {}: segments of {} bytes, dedup window {}, {}", t.name,
                             t.segment_bytes, format_dedup_window(t.dedup_window),
                             cleanup_text(t)));
      return tool::kExitOk;
    }
    if (*list) {
      auto topics = log.list_topics();
      if (as_json) {
        json j = json::array();
        for (const auto& n : topics) {
          TopicConfig t = log.topic(n);
          j.push_back({{"topic", t.name}, {"partitions", t.partitions}});
        }
        out.write(j.dump() + "\n");
      } else {
        for (const auto& n : topics) out.write(n + "\n");
      }
      return tool::kExitOk;
    }
    if (*desc) return describe(log, name, as_json);
    if (*del) {
      log.delete_topic(name);
      tool::note(fmt::format("deleted topic {}", name));
      return tool::kExitOk;
    }
    if (*ver) return verify(log, names, as_json);
    return repair(log, name, dry_run);
  });
}
