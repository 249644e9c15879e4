// pspf-produce: append JSON lines to a topic (pspf-produce(1)).
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>

#include "common/options.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf-produce/importer.h"
#include "pspf/batch.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/line_reader.h"
#include "pspf/log.h"
#include "pspf/pipelined_producer.h"
#include "pspf/producer.h"

using namespace pspf;

int main(int argc, char** argv) {
  tool::ImportOptions o;
  tool::cli::App app{"Append JSON lines from stdin or files to a topic.", "pspf-produce"};
  tool::add_common_options(app, o.dir);
  app.add_option("topic", o.topic, "topic to append to")->required();
  app.add_option("files", o.files, "input files (default: stdin; - is stdin)");
  app.add_option("-p,--partition", o.partition, "append every record to partition N")
      ->check(tool::whole_number());
  auto* key = app.add_option("-k,--key", o.key, "fixed key for every record");
  auto* key_field =
      app.add_option("--key-field", o.key_field, "key from this field (dot path, e.g. item.id)");
  auto* key_delim =
      app.add_option("-K,--key-delimiter", o.key_delimiter, "lines are KEY DELIM JSON");
  key->excludes(key_field)->excludes(key_delim);
  key_field->excludes(key_delim);
  app.add_flag("--allow-missing-key", o.allow_missing_key,
               "a record without the key field gets no key");
  app.add_option("--id-field", o.id_field,
                 "event id from this field (dot path): an id already "
                 "in the partition's dedup window is not appended again");
  app.add_option("--producer-id", o.producer_id,
                 "resumable import: skip the input lines a run with "
                 "this id already appended");
  app.add_option("--expect-version", o.expect_version,
                 "append only if the key's version is V: any, "
                 "no_stream, exists or a number (exit 3 otherwise)");
  app.add_option("-H,--header", o.headers, "add header NAME=VALUE to every record (repeatable)");
  app.add_flag("-J,--envelope", o.envelope,
               "input lines are envelopes as printed by pspf-replay -J");
  app.add_option("--partitions", o.partitions,
                 "partitions of the topic if it must be created (default 4)")
      ->check(tool::whole_number_in(1, kMaxPartitions));
  app.add_choice("--sync", o.sync, tool::sync_modes(), "none, batch (default) or always");
  static_assert(kMaxRecordBytes == 267386880,
                "update --max-record-bytes' help and pspf-produce(1)");
  app.add_option("--max-record-bytes", o.max_record_bytes,
                 "longest accepted line (default 1048576, "
                 "at most 267386880)")
      ->check(tool::whole_number_in(1, static_cast<int64_t>(kMaxRecordBytes)));
  app.add_flag("--skip-invalid", o.skip_invalid, "skip invalid lines instead of stopping");
  app.add_option("--reject-file", o.reject_file, "with --skip-invalid, append rejected lines here");
  app.add_flag("--receipts", o.receipts, "print a JSON receipt per appended record on stdout");
  app.add_flag("-q,--quiet", o.quiet, "no summary on stderr");

  return tool::run_tool("pspf-produce", app, argc, argv, [&] {
    SyncMode sync = o.sync;
    if (o.expect_version && !o.key && !o.key_field && !o.key_delimiter && !o.envelope)
      throw Error(Errc::usage, "--expect-version needs a key: -k, --key-field, -K or -J");
    if (o.reject_file && !o.skip_invalid)
      throw Error(Errc::usage, "--reject-file needs --skip-invalid");
    for (const auto& h : o.headers)  // checked before anything is created
      if (h.find('=') == std::string::npos || h[0] == '=')
        throw Error(Errc::usage, fmt::format("invalid header '{}': expected NAME=VALUE", h));
    // Field paths: a backslash escapes a '.' (a literal dot) or itself, nothing else.
    for (const auto* path : {&o.key_field, &o.id_field}) {
      if (!*path) continue;
      std::string_view s = **path;
      for (size_t i = 0; i < s.size(); ++i)
        if (s[i] == '\\' && (++i == s.size() || (s[i] != '.' && s[i] != '\\')))
          throw Error(Errc::usage, fmt::format("invalid field path '{}': a backslash escapes only "
                                               "'.' or another backslash",
                                               s));
    }
    std::unique_ptr<Log> opened = tool::open_log(o.dir);
    Log& log = *opened;
    log.will_produce();
    if (o.partition && !log.find_topic(o.topic) && *o.partition >= o.partitions)
      throw Error(Errc::usage,
                  fmt::format("topic {} has no partition {} (it would be created with "
                              "{} partition{}; see --partitions)",
                              o.topic, *o.partition, o.partitions, o.partitions == 1 ? "" : "s"));
    // A missing topic is created only when its first batch is appended: input refused
    // before that leaves no empty topic behind.
    std::optional<TopicConfig> found = log.find_topic(o.topic);
    TopicConfig topic;
    if (found) {
      topic = *found;
    } else {
      topic.name = o.topic;
      topic.partitions = o.partitions;
    }
    if (o.partition && (*o.partition < 0 || *o.partition >= topic.partitions))
      throw Error(Errc::usage, fmt::format("topic {} has no partition {} (it has {})", topic.name,
                                           *o.partition, topic.partitions));
    auto started = std::chrono::steady_clock::now();
    for (const std::string& x : tool::log_place().kafka_config)
      if (x.rfind("transactional.id=", 0) == 0)
        throw Error(Errc::usage,
                    "-X transactional.id is for pspf-consume --exec --to, whose output goes "
                    "into transactions; pspf-produce writes without them");
    std::unique_ptr<Producer> made = log.producer(topic, sync);
    // A bulk import uses both cores: this thread reads and converts, a second one
    // appends (pspf/pipelined_producer.h), in every sync mode. Kafka's client has
    // threads of its own; an expected version makes the input one batch.
    if (!tool::on_kafka() && !o.expect_version)
      made = std::make_unique<PipelinedProducer>(std::move(made));
    Producer& producer = *made;
    if (!found)
      producer.create_on_first_write([&] {
        bool created = false;
        TopicConfig t = log.open_or_create(o.topic, o.partitions, created);
        if (created && !o.quiet)
          tool::note(fmt::format("created topic {} with {} partition{} in {}", t.name, t.partitions,
                                 t.partitions == 1 ? "" : "s",
                                 tool::on_kafka() ? tool::log_name() : o.dir));
        return t;
      });
    if (o.producer_id) producer.set_producer_id(*o.producer_id);
    if (o.files.empty()) o.files.push_back("-");
    // Files of known size: size the id indexes for them up front.
    if (o.id_field || o.envelope) producer.expect_ids(tool::estimate_lines(o.files));
    if (o.expect_version) producer.expect_version(tool::parse_expect_version(*o.expect_version));
    tool::Importer importer(o, producer);
    if (o.receipts)
      producer.on_append([&](PartitionId p, const AppendResult& r, std::string_view batch) {
        importer.receipt(p, r, batch);
      });
    tool::install_stop_handlers();
    bool matched = false;
    try {
      for (const auto& f : o.files) {
        if (tool::stop_signal()) break;
        Fd fd;
        if (f != "-") fd = open_file(f, O_RDONLY);
        LineReader in(f == "-" ? STDIN_FILENO : fd.get(), f == "-" ? "stdin" : f,
                      o.max_record_bytes);
        in.stop_when(tool::stop_flag());
        // Without --skip-invalid the first bad line ends the import: a line found too
        // long is not read on to its newline, which may be gigabytes away, or never.
        if (!o.skip_invalid) in.stop_at_long_line();
        importer.import(in);
        importer.next_file(in);
      }
      // Interrupted or not, what was read is appended whole: nothing is left half-done.
      matched = producer.flush();
      importer.flush_receipts();
    } catch (const Error& e) {
      if (e.code() == Errc::invalid_input || e.code() == Errc::usage) {
        importer.flush_receipts();
        throw;  // say it already
      }
      // Whatever failed, every durable event gets its receipt, and the error says
      // what is in the log and how to go on without duplicates.
      producer.salvage();
      importer.flush_receipts();
      throw Error(e.code(), std::string(e.what()) + "; " + tool::appended_so_far(o, producer));
    }
    if (!matched)
      throw Error(Errc::condition,
                  fmt::format("version mismatch: key {} is at version {}, expected {}; nothing "
                              "was appended",
                              importer.first_key().value_or(""), producer.conflict_version(),
                              *o.expect_version));
    std::string torn = fmt::format(
        "cut off a torn tail of {} bytes left by an earlier writer "
        "(moved to {})",
        producer.truncated_bytes(), fmt::join(producer.quarantined(), ", "));
    if (!o.quiet) {
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::string msg =
          fmt::format("appended {} event{} to topic {} in {:.2f}s", producer.appended(),
                      producer.appended() == 1 ? "" : "s", topic.name, secs);
      if (producer.duplicates())
        msg += fmt::format(", left out {} duplicate{} (id already appended)", producer.duplicates(),
                           producer.duplicates() == 1 ? "" : "s");
      if (importer.resumed())
        msg += fmt::format(", skipped {} line{} appended by an earlier run of producer {}",
                           importer.resumed(), importer.resumed() == 1 ? "" : "s", *o.producer_id);
      if (importer.skipped()) msg += fmt::format(", skipped {} invalid lines", importer.skipped());
      if (producer.truncated_bytes()) msg += ", " + torn;
      tool::note(msg);
    } else if (producer.truncated_bytes()) {
      tool::note(torn);  // bytes moved aside are always named, even with --quiet
    }
    if (int sig = tool::stop_signal()) {
      tool::note(fmt::format("stopped by signal {} after appending what was read", sig));
      return 128 + sig;
    }
    return tool::kExitOk;
  });
}
