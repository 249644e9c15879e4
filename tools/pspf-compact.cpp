// pspf-compact: key compaction, tombstones and retention of topics, safe while
// producers and consumers run (pspf-compact(1)).
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>

#include "common/options.h"
#include "common/output.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf/clock.h"
#include "pspf/compact.h"
#include "pspf/error.h"
#include "pspf/log.h"
#include "pspf/position.h"

using namespace pspf;
using json = nlohmann::ordered_json;

namespace {

// "0 B", "980 B", "4.1 kB", "1.2 MB", "3.0 GB".
std::string mb(uint64_t bytes) {
  if (bytes < 1000) return fmt::format("{} B", bytes);
  if (bytes < 1000000) return fmt::format("{:.1f} kB", double(bytes) / 1e3);
  if (bytes < 1000000000) return fmt::format("{:.1f} MB", double(bytes) / 1e6);
  return fmt::format("{:.1f} GB", double(bytes) / 1e9);
}

json partition_json(const PartitionReport& r) {
  return json{{"partition", r.partition},
              {"segments", r.segments},
              {"segments_cleaned", r.segments_cleaned},
              {"segments_rewritten", r.segments_rewritten},
              {"segments_emptied", r.segments_emptied},
              {"segments_deleted", r.segments_deleted},
              {"keys", r.keys},
              {"records_cleaned", r.records_cleaned},
              {"records_after", r.records_after},
              {"bytes_cleaned", r.bytes_cleaned},
              {"bytes_after", r.bytes_after},
              {"bytes_reclaimable", r.bytes_cleaned - r.bytes_after + r.bytes_deleted},
              {"dirty_ratio", r.dirty_ratio()},
              {"tombstones_dropped", r.tombstones_dropped},
              {"records_deleted", r.records_deleted},
              {"bytes_deleted", r.bytes_deleted},
              {"leftovers_finished", r.leftovers.finished},
              {"leftovers_rolled_back", r.leftovers.rolled_back}};
}

std::string table(const TopicReport& t, bool dry_run) {
  std::string s = fmt::format("topic {} (cleanup {}){}\n", t.topic, format_cleanup_policy(t.policy),
                              dry_run ? ": dry run, nothing changed" : "");
  s += fmt::format("{:>9} {:>8} {:>8} {:>10} {:>12} {:>12} {:>14} {:>6} {:>10} {:>8} {:>14}\n",
                   "PARTITION", "SEGMENTS", "CLEANED", "KEYS", "RECORDS", "KEPT", "RECLAIMABLE",
                   "DIRTY", "TOMBSTONES", "EXPIRED", "EXPIRED-BYTES");
  for (const auto& r : t.partitions)
    s +=
        fmt::format("{:>9} {:>8} {:>8} {:>10} {:>12} {:>12} {:>14} {:>5.1f}% {:>10} {:>8} {:>14}\n",
                    r.partition, r.segments, r.segments_cleaned, r.keys, r.records_cleaned,
                    r.records_after, r.bytes_cleaned - r.bytes_after, 100 * r.dirty_ratio(),
                    r.tombstones_dropped, r.segments_deleted, r.bytes_deleted);
  return s;
}

std::string summary(const TopicReport& t, double seconds, bool into) {
  PartitionReport sum;
  for (const auto& r : t.partitions) {
    sum.segments_cleaned += r.segments_cleaned;
    sum.segments_rewritten += r.segments_rewritten;
    sum.segments_emptied += r.segments_emptied;
    sum.segments_deleted += r.segments_deleted;
    sum.records_cleaned += r.records_cleaned;
    sum.records_after += r.records_after;
    sum.bytes_cleaned += r.bytes_cleaned;
    sum.bytes_after += r.bytes_after;
    sum.tombstones_dropped += r.tombstones_dropped;
    sum.bytes_deleted += r.bytes_deleted;
    sum.leftovers.finished += r.leftovers.finished;
    sum.leftovers.rolled_back += r.leftovers.rolled_back;
  }
  std::string s = fmt::format(
      "topic {}: {}{} segments compacted ({} rewritten, {} emptied), {} -> {} records, {} -> {}, "
      "{} tombstones dropped; {} segments ({}) removed by retention",
      t.topic, into ? "copy: " : "", sum.segments_cleaned, sum.segments_rewritten,
      sum.segments_emptied, sum.records_cleaned, sum.records_after, mb(sum.bytes_cleaned),
      mb(sum.bytes_after), sum.tombstones_dropped, sum.segments_deleted, mb(sum.bytes_deleted));
  if (sum.leftovers.finished || sum.leftovers.rolled_back)
    s += fmt::format("; finished {} and rolled back {} changes of an interrupted compaction",
                     sum.leftovers.finished, sum.leftovers.rolled_back);
  return s + fmt::format(" ({:.1f} s, {:.0f} MB/s)", seconds,
                         seconds > 0 ? double(sum.bytes_cleaned) / 1e6 / seconds : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  std::vector<std::string> topics;
  std::optional<std::string> into, now_text;
  bool all = false, dry_run = false, as_json = false, roll = false, no_wait = false, quiet = false;

  tool::cli::App app{
      "Compact topics (latest record per key) and apply retention, while producers and "
      "consumers run.",
      "pspf-compact"};
  tool::add_common_options(app, dir);
  app.add_option("topics", topics, "topics to compact");
  app.add_flag("--all", all, "every topic of the data directory");
  app.add_flag("-n,--dry-run", dry_run, "only report what would be done");
  app.add_flag("--json", as_json, "print the report as JSON");
  app.add_option("--into", into, "write a compacted copy into data directory DIR instead");
  app.add_flag("--roll", roll, "close the active segments first, so they are compacted too");
  app.add_flag("--no-wait", no_wait, "exit 75 when a compaction of the topic is running");
  app.add_flag("-q,--quiet", quiet, "no summary on stderr");
  app.add_option("--now", now_text, "measure retention and horizons against this time (@TIME)")
      ->hidden();  // for tests

  return tool::run_tool("pspf-compact", app, argc, argv, [&]() -> int {
    if (all == !topics.empty())
      throw Error(Errc::usage, "name the topics to compact, or give --all (not both)");
    if (into && roll)
      throw Error(Errc::usage, "--roll changes the topic: it cannot go with --into");
    std::unique_ptr<Log> opened = tool::open_log(dir);
    Log& log = *opened;
    if (all) topics = log.list_topics();
    tool::install_stop_handlers();
    CompactOptions o;
    o.dry_run = dry_run;
    o.roll = roll;
    o.wait = !no_wait;
    o.into = into;
    o.stop = tool::stop_flag();
    if (now_text) {
      Position pos = parse_position(*now_text, now_ms());
      if (pos.kind != Position::Kind::time) throw Error(Errc::usage, "--now takes @TIME");
      o.now = Timestamp(pos.value);
    }
    bool progress = !quiet && ::isatty(2);
    if (progress)
      o.progress = [](const std::string& label, uint64_t done, uint64_t total) {
        std::fprintf(stderr, "\rpspf-compact: %s: %3.0f%% of %s   ", label.c_str(),
                     total ? 100.0 * double(done) / double(total) : 100.0, mb(total).c_str());
      };
    auto& out = tool::stdout_output();
    json reports = json::array();
    for (const auto& name : topics) {
      TopicConfig t = log.topic(name);
      auto start = std::chrono::steady_clock::now();
      TopicReport r;
      try {
        r = log.compact(t, o);
      } catch (const Interrupted&) {
        if (progress) std::fputs("\n", stderr);
        tool::note(
            fmt::format("topic {}: interrupted; nothing of this run was committed in the "
                        "partition it was working on",
                        name));
        return 128 + tool::stop_signal();
      }
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (progress) std::fputs("\r\033[K", stderr);
      if (as_json) {
        json parts = json::array();
        for (const auto& p : r.partitions) parts.push_back(partition_json(p));
        reports.push_back({{"topic", r.topic},
                           {"cleanup", format_cleanup_policy(r.policy)},
                           {"dry_run", dry_run},
                           {"seconds", seconds},
                           {"partitions", parts}});
      } else if (dry_run) {
        out.write(table(r, true));
      }
      if (!quiet && !dry_run) tool::note(summary(r, seconds, into.has_value()));
    }
    if (as_json) out.write(reports.dump() + "\n");
    return tool::kExitOk;
  });
}
