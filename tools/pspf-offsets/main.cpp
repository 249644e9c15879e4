// pspf-offsets: list consumer groups, describe their lag, and reset, set or delete
// their committed offsets, offline (pspf-offsets(1); kafka-consumer-groups.sh).
#include <cstdint>

#include "common/options.h"
#include "common/tool.h"
#include "pspf-offsets/offsets_commands.h"
#include "pspf/log.h"

using namespace pspf;

int main(int argc, char** argv) {
  tool::OffsetsOptions o;
  tool::cli::App app{
      "List consumer groups, describe their lag, reset, set or delete their offsets.",
      "pspf-offsets"};
  tool::add_common_options(app, o.dir);
  app.require_subcommand();
  auto group = [&](tool::cli::App* c) {
    c->add_option("-g,--group", o.group, "consumer group")->required();
  };
  auto* list_cmd = app.add_subcommand("list", "list the consumer groups");
  list_cmd->add_flag("--json", o.as_json, "JSON output");
  auto* desc =
      app.add_subcommand("describe", "committed offsets, lag and owner of every partition");
  group(desc);
  desc->add_flag("--json", o.as_json, "JSON output");
  auto* rst = app.add_subcommand("reset", "move committed offsets (a dry run unless --execute)");
  group(rst);
  rst->add_option("--topic", o.topics, "T or T:0,2 or T:1-3 (repeatable)");
  rst->add_flag("--all-topics", o.all_topics, "every topic the group has offsets for")
      ->excludes("--topic");
  o.modes = {
      rst->add_flag("--to-earliest", o.to_earliest, "to the first offset in the log"),
      rst->add_flag("--to-latest", o.to_latest, "to the log end (skip everything)"),
      rst->add_option("--to-offset", o.to_offset, "to offset N"),  // int64: beyond is refused
      rst->add_option("--shift-by", o.shift_by, "move by N (negative: back)"),
      rst->add_option("--to-datetime", o.to_datetime,
                      "to the first event appended at or after an ISO 8601 time"),
      rst->add_option("--by-duration", o.by_duration,
                      "to the first event appended in the last DURATION (e.g. 2h)"),
      rst->add_option("--from-file", o.from_file,
                      "to the offsets in a CSV file (topic,partition,offset; - is stdin)"),
  };
  rst->add_flag("--execute", o.execute, "apply the reset (default: only print it)");
  rst->add_flag("--export", o.export_csv, "print the new offsets as CSV for --from-file");
  rst->add_flag("--json", o.as_json, "JSON output")->excludes("--export");
  rst->add_flag("--force", o.force, "reset even while members of the group are live");
  auto* cmt = app.add_subcommand("commit", "set one partition's committed offset");
  group(cmt);
  cmt->add_option("--topic", o.topic, "topic")->required();
  cmt->add_option("-p,--partition", o.partition, "partition")->required();
  // Beyond int64 is refused, not saturated (as --from-file does); below 0 is
  // refused with its own message by commit_offset.
  cmt->add_option("--offset", o.offset, "the next offset to read")->required();
  cmt->add_flag("--force", o.force, "commit even while a member owns the partition");
  auto* del = app.add_subcommand("delete", "delete a group and its offsets");
  group(del);
  del->add_flag("--force", o.force, "delete even while members of the group are live");

  return tool::run_tool("pspf-offsets", app, argc, argv, [&]() -> int {
    std::unique_ptr<Log> opened = tool::open_log(o.dir);
    Log& log = *opened;
    if (*list_cmd) return tool::list_groups(log, o);
    if (*desc) return tool::describe_group(log, o);
    if (*rst) return tool::reset_offsets(log, o);
    if (*cmt) return tool::commit_offset(log, o);
    return tool::delete_group(log, o);
  });
}
