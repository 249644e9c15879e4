// pspf-replay: print a range of a topic as JSON lines (pspf-replay(1)).
#include <fmt/format.h>

#include <csignal>
#include <optional>

#include "common/options.h"
#include "common/output.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/json_codec.h"
#include "pspf/log.h"
#include "pspf/murmur2.h"
#include "pspf/topic_reader.h"
#include "pspf/watcher.h"

using namespace pspf;

int main(int argc, char** argv) {
  std::string dir, topic_name, from = "beginning";
  std::optional<std::string> until, key;
  std::vector<std::string> partitions;
  std::optional<uint64_t> count;
  bool no_merge = false, envelope = false, follow = false, current_version = false;

  CLI::App app{"Print the events of a topic as JSON lines.", "pspf-replay"};
  tool::add_common_options(app, dir);
  app.add_option("topic", topic_name, "topic to read")->required();
  app.add_option("-o,--from", from, "start: beginning, end, N, -N, @TIME (default beginning)");
  app.add_option("--until", until, "stop before this position (same forms as --from)");
  app.add_option("-p,--partition", partitions, "only these partitions (repeatable, or 0,2)")
      ->allow_extra_args(false);
  app.add_option("--key", key, "only events with this key");
  app.add_option("-c,--count", count, "stop after N events")->check(tool::whole_number());
  app.add_flag("--no-merge", no_merge, "partition by partition instead of merged by time");
  app.add_flag("-J,--envelope", envelope, "print the whole record as a JSON envelope");
  app.add_flag("-f,--follow", follow, "keep waiting for new events");
  app.add_flag("--current-version", current_version,
               "with --key: print the key's current version (-1: no events) and exit");

  return tool::run_tool("pspf-replay", app, argc, argv, [&] {
    Log log(dir);
    TopicConfig topic = log.topic(topic_name);
    if (current_version) {
      if (!key) throw Error(Errc::usage, "--current-version needs --key");
      PartitionId p = partition_for_key(*key, topic.partitions);
      auto& out = tool::stdout_output();
      out.write(fmt::format("{}\n", log.writer(topic, p)->key_version(*key)));
      out.flush();
      return tool::kExitOk;
    }
    ReadOptions ro;
    Timestamp now = now_ms();
    ro.from = parse_position(from, now);
    if (until) ro.until = parse_position(*until, now);
    ro.partitions = tool::parse_partitions(partitions, topic);
    ro.follow = follow;
    ro.merge = !no_merge;
    ro.key = key;
    if (key && !partitions.empty())
      throw Error(Errc::usage, "--key reads the key's own partition: leave out -p");
    std::optional<Watcher> watcher;
    TopicReader reader(log, topic, ro);
    if (follow) watcher.emplace(reader.watch_dirs());

    auto& out = tool::stdout_output();
    out.set_line_buffered(follow);
    if (follow) tool::install_stop_handlers();
    uint64_t printed = 0;
    PartitionId p;
    RecordView r;
    while (!count || printed < *count) {
      if (reader.next(p, r)) {
        write_record_line(topic.name, p, r, envelope, out.buffer());
        out.maybe_flush();
        ++printed;
        continue;
      }
      if (reader.finished() || !follow) break;
      out.flush();
      while (!tool::stop_signal() && !watcher->wait(1000)) {
      }
      if (tool::stop_signal()) break;
    }
    out.flush();
    // A follower stopped by a signal has printed whole events only: that is its normal
    // way to end.
    return tool::kExitOk;
  });
}
