// pspf-replay: print a range of a topic as JSON lines (pspf-replay(1)).
#include <fmt/format.h>

#include <csignal>
#include <optional>

#include "common/options.h"
#include "common/output.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf/clock.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/json_codec.h"
#include "pspf/log.h"
#include "pspf/murmur2.h"
#include "pspf/producer.h"
#include "pspf/topic_reader.h"

using namespace pspf;

namespace {

// --latest: the latest value of each key, partition by partition (pspf/latest.h).
int print_latest(const Log& log, const TopicConfig& topic, const std::vector<PartitionId>& parts,
                 const std::optional<std::string>& key, const std::optional<std::string>& as_of,
                 bool envelope, std::optional<uint64_t> count) {
  LatestOptions lo;
  lo.partitions = parts;
  if (key) lo.partitions = {partition_for_key(*key, topic.partitions)};
  if (as_of) {
    Position pos = parse_position(*as_of, now_ms());
    if (pos.kind != Position::Kind::time)
      throw Error(Errc::usage, fmt::format("--as-of takes a time (@2026-11-01T12:00:00Z, @-1h), "
                                           "not '{}'",
                                           *as_of));
    lo.as_of = Timestamp(pos.value);
  }
  auto& out = tool::stdout_output();
  uint64_t printed = 0;
  log.for_each_latest(topic, lo, [&](PartitionId p, const RecordView& r) {
    if ((count && printed >= *count) || (key && r.key != *key)) return;
    write_record_line(topic.name, p, r, envelope, out.buffer());
    out.maybe_flush();
    ++printed;
  });
  out.flush();
  return tool::kExitOk;
}

// --to-brokers: copies what the reader hands out into the topic of the same name on
// the cluster, each event to the same partition number with its key, id, headers,
// value and timestamp (pspf.7 KAFKA). The topic is created like the local one when
// the cluster has none; one with another partition count is refused before anything
// is written. Returns the exit code; the summary goes to stderr.
int copy_to_cluster(const TopicConfig& topic, TopicReader& reader, const std::string& brokers,
                    std::optional<uint64_t> count) {
  std::unique_ptr<Log> cluster = tool::open_target_cluster(brokers);
  TopicConfig target;
  if (std::optional<TopicConfig> found = cluster->find_topic(topic.name)) {
    target = *found;
    if (target.partitions != topic.partitions)
      throw Error(Errc::exists,
                  fmt::format("Kafka cluster {}: topic {} has {} partitions, the local one {}: "
                              "events would not keep their partitions (nothing copied)",
                              brokers, topic.name, target.partitions, topic.partitions));
  } else {
    target = cluster->create_topic(topic);
  }
  std::unique_ptr<Producer> producer = cluster->producer(target, SyncMode::batch);
  uint64_t copied = 0;
  PartitionId p;
  RecordView r;
  try {
    while ((!count || copied < *count) && reader.next(p, r)) {
      std::string_view key = r.key, id = r.id;
      producer->timestamp_next(r.timestamp);
      producer->add(p, r.has_key ? &key : nullptr, r.has_id ? &id : nullptr, r.headers, r.value);
      ++copied;
    }
    producer->flush();
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{} ({} of the {} events handed over were acknowledged; "
                                      "the cluster does not deduplicate them: delete the topic "
                                      "there before copying again)",
                                      e.what(), producer->appended(), copied));
  }
  tool::note(fmt::format("copied {} event{} of topic {} to Kafka cluster {}", copied,
                         copied == 1 ? "" : "s", topic.name, brokers));
  return tool::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, topic_name, from = "beginning";
  std::optional<std::string> until, key, as_of, to_brokers;
  std::vector<std::string> partitions;
  std::optional<uint64_t> count;
  bool no_merge = false, envelope = false, follow = false, latest = false, current_version = false;

  tool::cli::App app{"Print the events of a topic as JSON lines.", "pspf-replay"};
  tool::add_common_options(app, dir);
  app.add_option("topic", topic_name, "topic to read")->required();
  app.add_option("-o,--from", from, "start: beginning, end, N, -N, @TIME (default beginning)");
  app.add_option("--until", until, "stop before this position (same forms as --from)");
  app.add_option("-p,--partition", partitions, "only these partitions (repeatable, or 0,2)");
  app.add_option("--key", key, "only events with this key");
  app.add_option("-c,--count", count, "stop after N events")->check(tool::whole_number());
  app.add_flag("--no-merge", no_merge, "partition by partition instead of merged by time");
  app.add_flag("-J,--envelope", envelope, "print the whole record as a JSON envelope");
  app.add_flag("-f,--follow", follow, "keep waiting for new events");
  app.add_flag("--current-version", current_version,
               "with --key: print the key's current version (-1: no events) and exit");
  app.add_flag("--latest", latest, "only the latest value of each key (tombstones delete)")
      ->excludes("--from", "--until", "--follow", "--no-merge");
  app.add_option("--as-of", as_of, "with --latest: the table as it was at @TIME")
      ->needs("--latest");
  app.add_option("--to-brokers", to_brokers,
                 "copy the events to the same topic on this Kafka cluster (HOST:PORT[,...]) "
                 "instead of printing them");

  return tool::run_tool("pspf-replay", app, argc, argv, [&] {
    if (to_brokers) {
      if (tool::on_kafka())
        throw Error(Errc::usage, "--to-brokers copies a local topic: leave out -b");
      if (envelope || follow || latest || current_version)
        throw Error(Errc::usage,
                    "--to-brokers copies whole events once: leave out -J, -f, --latest and "
                    "--current-version");
    }
    std::unique_ptr<Log> opened = tool::open_log(dir, to_brokers.has_value());
    Log& log = *opened;
    TopicConfig topic = log.topic(topic_name);
    if (current_version) {
      if (!key) throw Error(Errc::usage, "--current-version needs --key");
      PartitionId p = partition_for_key(*key, topic.partitions);
      auto& out = tool::stdout_output();
      out.write(fmt::format("{}\n", log.key_version(topic, p, *key)));
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
    if (latest) return print_latest(log, topic, ro.partitions, key, as_of, envelope, count);
    std::unique_ptr<TopicReader> reader = log.read(topic, ro);
    if (to_brokers) return copy_to_cluster(topic, *reader, *to_brokers, count);

    auto& out = tool::stdout_output();
    out.set_line_buffered(follow);
    if (follow) tool::install_stop_handlers();
    uint64_t printed = 0;
    PartitionId p;
    RecordView r;
    while (!count || printed < *count) {
      if (reader->next(p, r)) {
        write_record_line(topic.name, p, r, envelope, out.buffer());
        out.maybe_flush();
        ++printed;
        continue;
      }
      if (reader->finished() || !follow) break;
      out.flush();
      while (!tool::stop_signal() && !reader->wait(1000)) {
      }
      if (tool::stop_signal()) break;
    }
    out.flush();
    // A follower stopped by a signal has printed whole events only: that is its normal
    // way to end.
    return tool::kExitOk;
  });
}
