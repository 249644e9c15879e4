// pspf-produce: append JSON lines to a topic (pspf-produce(1)).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include <chrono>
#include <optional>

#include "common/output.h"
#include "common/options.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf/batch.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/json_codec.h"
#include "pspf/line_reader.h"
#include "pspf/log.h"
#include "pspf/producer.h"

using namespace pspf;

namespace {

struct Options {
  std::string dir, topic;
  std::vector<std::string> files;
  std::optional<int32_t> partition;
  std::optional<std::string> key, key_field, key_delimiter, id_field, reject_file;
  std::optional<std::string> producer_id, expect_version;
  std::vector<std::string> headers;
  bool allow_missing_key = false, envelope = false, skip_invalid = false;
  bool receipts = false, quiet = false;
  int32_t partitions = 4;
  std::string sync = "batch";
  size_t max_record_bytes = 1 << 20;
};

// Turns input lines into records and hands them to the producer.
class Importer {
 public:
  Importer(const Options& o, Producer& producer) : o_(o), producer_(producer) {
    captures_[0].path = o.key_field ? std::string_view(*o.key_field) : std::string_view();
    captures_[1].path = o.id_field ? std::string_view(*o.id_field) : std::string_view();
    if (!o.headers.empty()) {  // NAME=VALUE, checked by main()
      msgpack_put_map_header(headers_, static_cast<uint32_t>(o.headers.size()));
      for (const auto& h : o.headers) {
        auto eq = h.find('=');
        msgpack_put_str(headers_, std::string_view(h).substr(0, eq));
        msgpack_put_str(headers_, std::string_view(h).substr(eq + 1));
      }
    }
    if (o.reject_file) reject_ = open_file(*o.reject_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
  }

  void import(LineReader& in) {
    if (reject_.valid())
      in.on_overflow([this](std::string_view bytes) { reject(bytes, false); });
    std::string_view line;
    while (!tool::stop_signal()) {
      LineReader::Status s = in.next(line);
      if (s == LineReader::Status::end) break;
      if (s == LineReader::Status::too_long)
        invalid(in, line, fmt::format("line longer than --max-record-bytes ({})", o_.max_record_bytes));
      else if (!line.empty())
        record(in, line);
      if (in.idle()) producer_.flush();  // input paused: make what we have durable now
    }
  }

  uint64_t skipped() const { return skipped_; }
  // Lines left out because a run with the same --producer-id appended them already.
  uint64_t resumed() const { return resumed_; }
  const std::optional<std::string>& first_key() const { return first_key_; }
  // Sequence numbers continue from one input file to the next.
  void next_file(const LineReader& in) { seq_base_ += in.line_number(); }

 private:
  void record(LineReader& in, std::string_view line) {
    std::string_view json = line, key_text;
    if (o_.key_delimiter) {
      auto d = line.find(*o_.key_delimiter);
      if (d == std::string_view::npos)
        return invalid(in, line, fmt::format("no key delimiter '{}'", *o_.key_delimiter));
      key_text = line.substr(0, d);
      json = line.substr(d + o_.key_delimiter->size());
    }
    if (json.find('\0') != std::string_view::npos) return invalid(in, line, "NUL byte in line");
    value_.clear();
    if (!codec_.convert(json, value_, captures_)) return invalid(in, line, codec_.error());
    std::string_view key, id, headers = headers_.view(), value = value_.view();
    const std::string_view *kp = nullptr, *ip = nullptr;
    if (o_.envelope) {
      EnvelopeFields f;
      if (auto why = parse_envelope(value_.view(), f)) return invalid(in, line, *why);
      if (f.has_key) key = f.key, kp = &key;
      if (f.has_id) id = f.id, ip = &id;
      if (!f.headers.empty()) headers = f.headers;
      value = f.value;
    }
    if (o_.key) key = *o_.key, kp = &key;
    if (o_.key_delimiter) key = key_text, kp = &key;
    if (o_.key_field) {
      if (captures_[0].found) key = captures_[0].text, kp = &key;
      else if (!o_.allow_missing_key)
        return invalid(in, line, fmt::format("key field {} is missing or null", *o_.key_field));
    }
    if (o_.id_field && captures_[1].found) id = captures_[1].text, ip = &id;
    if (value.size() > o_.max_record_bytes)
      return invalid(in, line, fmt::format("record larger than --max-record-bytes ({})", o_.max_record_bytes));
    if (o_.expect_version) {
      std::string k = kp ? std::string(*kp) : std::string();
      if (!first_key_) first_key_ = k;
      else if (*first_key_ != k)
        return invalid(in, line, "with --expect-version every line must have the same key");
    }
    uint64_t seq = seq_base_ + in.line_number();
    PartitionId p = o_.partition ? PartitionId(*o_.partition) : producer_.route(kp);
    // A resumed import must send every keyless line where the first run sent it:
    // spread them by position rather than by the (per-process) sticky partition.
    if (o_.producer_id && !kp && !o_.partition)
      p = PartitionId(static_cast<int32_t>((seq - 1) / kResumeSpreadLines % producer_.topic().partitions));
    if (o_.producer_id && seq <= producer_.producer_seq(p)) {
      ++resumed_;
      return;
    }
    producer_.add(p, kp, ip, headers, value, seq);
  }

  void invalid(LineReader& in, std::string_view line, const std::string& why) {
    if (!o_.skip_invalid && o_.expect_version)  // all or nothing
      throw Error(Errc::invalid_input, fmt::format("{}:{}: {} (nothing was appended)", in.name(),
                                                   in.line_number(), why));
    if (!o_.skip_invalid) {
      producer_.flush();  // everything before the bad line is appended and durable
      throw Error(Errc::invalid_input,
                  fmt::format("{}:{}: {} (lines before it were appended; --skip-invalid skips "
                              "bad lines)", in.name(), in.line_number(), why));
    }
    ++skipped_;
    if (!o_.quiet && skipped_ <= kReportSkipped)
      tool::note(fmt::format("skipped {}:{}: {}{}", in.name(), in.line_number(), why,
                             skipped_ == kReportSkipped ? " (further skipped lines are only counted)" : ""));
    if (reject_.valid()) reject(line, true);
  }

  // Appends rejected bytes to the reject file (the line ends with `last`).
  void reject(std::string_view bytes, bool last) {
    if (!write_all(reject_.get(), bytes.data(), bytes.size()) ||
        (last && !write_all(reject_.get(), "\n", 1)))
      throw_errno("cannot write " + *o_.reject_file);
  }

  static constexpr uint64_t kReportSkipped = 10;
  static constexpr uint64_t kResumeSpreadLines = 4096;
  const Options& o_;
  Producer& producer_;
  JsonToMsgpack codec_;
  FieldCapture captures_[2];
  Buffer value_;
  Buffer headers_;
  Fd reject_;
  uint64_t skipped_ = 0;
  uint64_t resumed_ = 0;
  uint64_t seq_base_ = 0;
  std::optional<std::string> first_key_;
};

void print_receipts(const std::string& topic, PartitionId p, const AppendResult& r,
                    std::string_view batch, const std::optional<std::string>& expected) {
  auto& out = tool::stdout_output();
  BatchHeader h = decode_batch_header(batch.data());
  RecordIterator it(batch.data(), h);
  RecordView rec;
  int64_t next = r.appended.base.value;
  for (size_t i = 0; it.next(rec); ++i) {
    out.write(R"({"topic":)");
    append_json_string(topic, out.buffer());
    out.write(fmt::format(R"(,"partition":{},)", p.value));
    if (r.conflict)
      out.write(fmt::format(R"("error":"version_mismatch","expected_version":"{}","current_version":{},)",
                            *expected, r.version_before));
    else if (!r.duplicate_of.empty() && r.duplicate_of[i].value >= 0)
      out.write(fmt::format(R"("duplicate_of":{},)", r.duplicate_of[i].value));
    else {
      out.write(fmt::format(R"("offset":{},)", next));
      if (expected)
        out.write(fmt::format(R"("version":{},)", r.version_before + 1 + next - r.appended.base.value));
      ++next;
    }
    out.write(R"("key":)");
    if (rec.has_key) append_json_string(rec.key, out.buffer());
    else out.write("null");
    out.write("}\n");
  }
  out.flush();  // a receipt is a promise: it goes out as soon as the batch is durable
}

// About how many lines the input files hold (0 when unknown: stdin, a pipe), from
// their sizes and the line length of their first MiB.
uint64_t estimate_lines(const std::vector<std::string>& files) {
  uint64_t bytes = 0, sample_bytes = 0, sample_lines = 0;
  for (const auto& f : files) {
    Fd opened = f == "-" ? Fd() : open_file_if_exists(f, O_RDONLY);
    int fd = f == "-" ? STDIN_FILENO : opened.get();
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    bytes += static_cast<uint64_t>(st.st_size);
    if (sample_bytes == 0) {
      std::string head(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), 1 << 20), '\0');
      sample_bytes = pread_full(fd, head.data(), head.size(), 0, f);
      sample_lines = static_cast<uint64_t>(std::count(head.begin(), head.begin() + static_cast<ptrdiff_t>(sample_bytes), '\n'));
    }
  }
  return sample_lines == 0 ? 0 : bytes / (sample_bytes / sample_lines);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Append JSON lines from stdin or files to a topic.", "pspf-produce"};
  tool::add_common_options(app, o.dir);
  app.add_option("topic", o.topic, "topic to append to")->required();
  app.add_option("files", o.files, "input files (default: stdin; - is stdin)");
  app.add_option("-p,--partition", o.partition, "append every record to partition N")
      ->check(tool::whole_number());
  auto* key = app.add_option("-k,--key", o.key, "fixed key for every record");
  auto* key_field = app.add_option("--key-field", o.key_field, "key from this field (dot path, e.g. item.id)");
  auto* key_delim = app.add_option("-K,--key-delimiter", o.key_delimiter, "lines are KEY DELIM JSON");
  key->excludes(key_field)->excludes(key_delim);
  key_field->excludes(key_delim);
  app.add_flag("--allow-missing-key", o.allow_missing_key, "a record without the key field gets no key");
  app.add_option("--id-field", o.id_field, "event id from this field (dot path): an id already "
                 "in the partition's dedup window is not appended again");
  app.add_option("--producer-id", o.producer_id, "resumable import: skip the input lines a run with "
                 "this id already appended");
  app.add_option("--expect-version", o.expect_version, "append only if the key's version is V: any, "
                 "no_stream, exists or a number (exit 3 otherwise)");
  app.add_option("-H,--header", o.headers, "add header NAME=VALUE to every record (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("-J,--envelope", o.envelope, "input lines are envelopes as printed by pspf-replay -J");
  app.add_option("--partitions", o.partitions, "partitions of the topic if it must be created (default 4)")
      ->check(tool::whole_number_in(1, kMaxPartitions));
  app.add_option("--sync", o.sync, "none, batch (default) or always");
  app.add_option("--max-record-bytes", o.max_record_bytes, "longest accepted line (default 1048576)")
      ->check(tool::whole_number_in(1, int64_t{256} << 20));
  app.add_flag("--skip-invalid", o.skip_invalid, "skip invalid lines instead of stopping");
  app.add_option("--reject-file", o.reject_file, "with --skip-invalid, append rejected lines here");
  app.add_flag("--receipts", o.receipts, "print a JSON receipt per appended record on stdout");
  app.add_flag("-q,--quiet", o.quiet, "no summary on stderr");

  return tool::run_tool("pspf-produce", app, argc, argv, [&] {
    SyncMode sync = tool::parse_sync_mode(o.sync);
    if (o.expect_version && !o.key && !o.key_field && !o.key_delimiter && !o.envelope)
      throw Error(Errc::usage, "--expect-version needs a key: -k, --key-field, -K or -J");
    if (o.reject_file && !o.skip_invalid)
      throw Error(Errc::usage, "--reject-file needs --skip-invalid");
    for (const auto& h : o.headers)  // checked before anything is created
      if (h.find('=') == std::string::npos || h[0] == '=')
        throw Error(Errc::usage, fmt::format("invalid header '{}': expected NAME=VALUE", h));
    Log log(o.dir);
    if (o.partition && !log.find_topic(o.topic) && *o.partition >= o.partitions)
      throw Error(Errc::usage, fmt::format("topic {} has no partition {} (it would be created with "
                                           "{} partitions; see --partitions)", o.topic, *o.partition,
                                           o.partitions));
    bool created = false;
    TopicConfig topic = log.open_or_create(o.topic, o.partitions, created);
    if (created && !o.quiet)
      tool::note(fmt::format("created topic {} with {} partitions in {}", topic.name,
                             topic.partitions, o.dir));
    if (o.partition && (*o.partition < 0 || *o.partition >= topic.partitions))
      throw Error(Errc::usage, fmt::format("topic {} has no partition {} (it has {})", topic.name,
                                           *o.partition, topic.partitions));
    auto started = std::chrono::steady_clock::now();
    Producer producer(log, topic, sync);
    if (o.receipts)
      producer.on_append([&](PartitionId p, const AppendResult& r, std::string_view batch) {
        print_receipts(topic.name, p, r, batch, o.expect_version);
      });
    if (o.producer_id) producer.set_producer_id(*o.producer_id);
    if (o.files.empty()) o.files.push_back("-");
    // Files of known size: size the id indexes for them up front.
    if (o.id_field || o.envelope) producer.expect_ids(estimate_lines(o.files));
    if (o.expect_version) producer.expect_version(parse_expect_version(*o.expect_version));
    Importer importer(o, producer);
    tool::install_stop_handlers();
    for (const auto& f : o.files) {
      if (tool::stop_signal()) break;
      Fd fd;
      if (f != "-") fd = open_file(f, O_RDONLY);
      LineReader in(f == "-" ? STDIN_FILENO : fd.get(), f == "-" ? "stdin" : f, o.max_record_bytes);
      in.stop_when(tool::stop_flag());
      importer.import(in);
      importer.next_file(in);
    }
    // Interrupted or not, what was read is appended whole: nothing is left half-done.
    bool matched = producer.flush();
    if (!matched)
      throw Error(Errc::condition,
                  fmt::format("version mismatch: key {} is at version {}, expected {}; nothing "
                              "was appended", importer.first_key().value_or(""),
                              producer.conflict_version(), *o.expect_version));
    if (!o.quiet) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::string msg = fmt::format("appended {} event{} to topic {} in {:.2f}s", producer.appended(),
                                    producer.appended() == 1 ? "" : "s", topic.name, secs);
      if (producer.duplicates())
        msg += fmt::format(", left out {} duplicate{} (id already appended)", producer.duplicates(),
                           producer.duplicates() == 1 ? "" : "s");
      if (importer.resumed())
        msg += fmt::format(", skipped {} line{} appended by an earlier run of producer {}",
                           importer.resumed(), importer.resumed() == 1 ? "" : "s", *o.producer_id);
      if (importer.skipped()) msg += fmt::format(", skipped {} invalid lines", importer.skipped());
      if (producer.truncated_bytes())
        msg += fmt::format(", cut off a torn tail of {} bytes left by an earlier writer",
                           producer.truncated_bytes());
      tool::note(msg);
    }
    if (int sig = tool::stop_signal()) {
      tool::note(fmt::format("stopped by signal {} after appending what was read", sig));
      return 128 + sig;
    }
    return tool::kExitOk;
  });
}
