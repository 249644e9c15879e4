// pspf-consume: read a topic as a member of a consumer group, committing offsets
// only after the events were delivered (plain mode) or processed (--exec)
// (pspf-consume(1)).
#include <fmt/format.h>

#include <optional>

#include "common/options.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf-consume/consume_worker.h"
#include "pspf/clock.h"
#include "pspf/consumer.h"
#include "pspf/error.h"
#include "pspf/position.h"
#include "pspf/transform_output.h"

using namespace pspf;

int main(int argc, char** argv) {
  tool::ConsumeOptions o;
  tool::cli::App app{"Read a topic as a member of a consumer group.", "pspf-consume"};
  tool::add_common_options(app, o.dir);
  app.add_option("-g,--group", o.group, "consumer group")->required();
  app.add_option("topic", o.topic, "topic to read")->required();
  app.add_option("-o,--from", o.from,
                 "where a new group starts: beginning (default), end, N, -N, @TIME");
  app.add_flag("-e,--exit-at-end", o.exit_at_end, "stop at the end of the log as it was at start");
  app.add_option("--idle-exit", o.idle_exit, "stop after this long without events (e.g. 30s)");
  app.add_option("-c,--count", o.count, "stop after N events")->check(tool::whole_number());
  app.add_flag("-J,--envelope", o.envelope, "print whole records as JSON envelopes");
  app.add_option("--exec", o.exec, "run CMD (/bin/sh -c) on each batch; commit when it exits 0");
  app.add_option("--batch", o.batch, "events per batch for --exec (default 1000)")
      ->check(tool::whole_number_in(1, INT32_MAX));
  app.add_option("--batch-ms", o.batch_ms, "longest wait to fill a batch, ms (default 100)")
      ->check(tool::whole_number_in(0, INT32_MAX));
  app.add_option("--max-attempts", o.max_attempts, "tries per batch before giving up (default 3)")
      ->check(tool::whole_number_in(1, INT32_MAX));
  app.add_option("--dead-letter", o.dead_letter,
                 "after the last attempt, append the batch here and go on");
  app.add_option("--parallel", o.parallel,
                 "commands running at once, each on its own partition (default 1)")
      ->check(tool::whole_number_in(1, INT32_MAX));
  app.add_flag("--no-commit", o.no_commit, "do not commit offsets (see pspf-offsets commit)");
  app.add_option("--to", o.to,
                 "with --exec: append the command's output lines to this topic, "
                 "exactly once");
  app.add_option("--out-key-field", o.out_key_field,
                 "with --to: the key of each output line "
                 "(dot path)");

  return tool::run_tool("pspf-consume", app, argc, argv, [&] {
    if (!o.exec && o.dead_letter) throw Error(Errc::usage, "--dead-letter needs --exec");
    if (o.idle_exit) parse_duration_ms(*o.idle_exit);
    if (o.to && !o.exec) throw Error(Errc::usage, "--to needs --exec");
    if (o.to && o.no_commit) throw Error(Errc::usage, "--to needs commits: leave out --no-commit");
    if (o.out_key_field && !o.to) throw Error(Errc::usage, "--out-key-field needs --to");
    std::unique_ptr<Log> opened = tool::open_log(o.dir);
    Log& log = *opened;
    TopicConfig topic = log.topic(o.topic);
    Position from = parse_position(o.from, now_ms());
    tool::install_stop_handlers();
    std::unique_ptr<Consumer> consumer =
        log.consume(o.group, topic, from, o.exit_at_end, !o.no_commit);
    consumer->on_warning(tool::note);
    std::optional<TransformOutput> output;
    if (o.to)
      output.emplace(log, *o.to, topic.partitions, o.out_key_field.value_or(""), o.group,
                     topic.name);
    int rc = tool::run_consumer(o, log, *consumer, output ? &*output : nullptr);
    if (output && output->duplicates())
      tool::note(
          fmt::format("left out {} output events already in topic {} (a batch processed "
                      "again after a restart)",
                      output->duplicates(), output->topic()));
    return rc;
  });
}
