#include "pspf-produce/importer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/output.h"
#include "common/signals.h"
#include "common/tool.h"
#include "pspf/batch.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/msgpack.h"

namespace pspf::tool {

Importer::Importer(const ImportOptions& o, Producer& producer) : o_(o), producer_(producer) {
  captures_[0].path = o.key_field ? std::string_view(*o.key_field) : std::string_view();
  captures_[1].path = o.id_field ? std::string_view(*o.id_field) : std::string_view();
  captures_[1].what = "id field";
  if (!o.headers.empty()) {  // NAME=VALUE, checked by main()
    std::vector<std::pair<std::string_view, std::string_view>> kv;
    for (const auto& h : o.headers) {
      auto eq = h.find('=');
      kv.emplace_back(std::string_view(h).substr(0, eq), std::string_view(h).substr(eq + 1));
    }
    msgpack_put_string_map(headers_, kv);
  }
  if (o.reject_file) reject_ = open_file(*o.reject_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (o.receipts) {
    queued_.resize(static_cast<size_t>(producer.topic().partitions));
    if (o.files.size() > 1)
      for (const auto& f : o.files) {
        scratch_.clear();
        append_json_string(f == "-" ? "stdin" : f, scratch_);
        file_names_.emplace_back(scratch_.view());
      }
  }
}

uint64_t Importer::hold(const LineReader& in) {
  held_.push_back({in.line_number(), file_, false, {}});
  return held_base_ + held_.size() - 1;
}

void Importer::fill(uint64_t n) {
  Held& h = held_[n - held_base_];
  if (!file_names_.empty()) {
    scratch_.append(R"(,"file":)");
    scratch_.append(file_names_[h.file]);
  }
  scratch_.append(fmt::format(R"(,"line":{}}})", h.line));
  scratch_.append("\n");
  auto& out = tool::stdout_output();
  if (n != held_base_) {  // an earlier line's receipt is still to come
    h.text = std::string(scratch_.view());
    h.ready = true;
    return;
  }
  out.write(scratch_.view());
  held_.pop_front();
  ++held_base_;
  while (!held_.empty() && held_.front().ready) {
    out.write(held_.front().text);
    out.maybe_flush();  // a long run of held receipts must not grow the buffer
    held_.pop_front();
    ++held_base_;
  }
}

void Importer::receipt(PartitionId p, const AppendResult& r, std::string_view batch) {
  auto& places = queued_[static_cast<size_t>(p.value)];
  BatchHeader h = decode_batch_header(batch.data());
  RecordIterator it(batch.data(), h);
  RecordView rec;
  int64_t next = r.appended.base.value;
  for (size_t i = 0; it.next(rec); ++i) {
    scratch_.clear();
    scratch_.append(R"({"topic":)");
    append_json_string(producer_.topic().name, scratch_);
    scratch_.append(fmt::format(R"(,"partition":{},)", p.value));
    if (r.conflict)
      scratch_.append(
          fmt::format(R"("error":"version_mismatch","expected_version":"{}","current_version":{},)",
                      *o_.expect_version, r.version_before));
    else if (!r.duplicate_of.empty() && r.duplicate_of[i].value >= 0)
      scratch_.append(fmt::format(R"("duplicate_of":{},)", r.duplicate_of[i].value));
    else {
      scratch_.append(fmt::format(R"("offset":{},)", next));
      if (o_.expect_version)
        scratch_.append(
            fmt::format(R"("version":{},)", r.version_before + 1 + next - r.appended.base.value));
      ++next;
    }
    scratch_.append(R"("key":)");
    if (rec.has_key)
      append_json_string(rec.key, scratch_);
    else
      scratch_.append("null");
    // The batches of a partition are reported in the order their records were queued.
    uint64_t n = places.front();
    places.pop_front();
    fill(n);
  }
  tool::stdout_output().flush();  // a receipt is a promise: it goes out as soon as it may
}

void Importer::flush_receipts() {
  if (!o_.receipts) return;
  auto& out = tool::stdout_output();
  for (const Held& h : held_)
    if (h.ready) out.write(h.text);
  held_base_ += held_.size();
  held_.clear();
  out.flush();
}

void Importer::import(LineReader& in) {
  if (reject_.valid()) in.on_overflow([this](std::string_view bytes) { reject(bytes, false); });
  std::string_view line;
  while (!tool::stop_signal()) {
    LineReader::Status s = in.next(line);
    if (s == LineReader::Status::end) break;
    if (s == LineReader::Status::too_long)
      invalid(in, line,
              fmt::format("line longer than --max-record-bytes ({})", o_.max_record_bytes));
    else if (line.find_first_not_of(" \t\r") != std::string_view::npos)
      record(in,
             line);   // (a line of JSON whitespace only holds no value: skipped like an empty one)
    if (in.idle()) {  // input paused: make what we have durable now
      producer_.flush();
      if (o_.receipts) tool::stdout_output().flush();
    }
  }
}

void Importer::record(LineReader& in, std::string_view line) {
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
  std::optional<Timestamp> timestamp;
  if (o_.envelope) {
    EnvelopeFields f;
    if (auto why = parse_envelope(value_.view(), f)) return invalid(in, line, *why);
    if (f.has_key) key = f.key, kp = &key;
    if (f.has_id) id = f.id, ip = &id;
    if (!f.headers.empty()) headers = f.headers;
    value = f.value;
    timestamp = f.timestamp;
  }
  if (o_.key) key = *o_.key, kp = &key;
  if (o_.key_delimiter) key = key_text, kp = &key;
  if (o_.key_field) {
    if (captures_[0].found)
      key = captures_[0].text, kp = &key;
    else if (!o_.allow_missing_key)
      return invalid(in, line, fmt::format("key field {} is missing or null", *o_.key_field));
  }
  if (o_.id_field && captures_[1].found) id = captures_[1].text, ip = &id;
  if (value.size() > o_.max_record_bytes)
    return invalid(in, line,
                   fmt::format("record larger than --max-record-bytes ({})", o_.max_record_bytes));
  if (o_.expect_version) {
    std::string k = kp ? std::string(*kp) : std::string();
    if (!first_key_)
      first_key_ = k;
    else if (*first_key_ != k)
      return invalid(in, line, "with --expect-version every line must have the same key");
  }
  uint64_t seq = seq_base_ + in.line_number();
  PartitionId p = o_.partition ? PartitionId(*o_.partition) : producer_.route(kp, ip, seq);
  if (producer_.appended_before(p, seq)) {
    ++resumed_;
    if (o_.receipts) {
      scratch_.clear();
      scratch_.append(R"({"topic":)");
      append_json_string(producer_.topic().name, scratch_);
      scratch_.append(R"(,"skipped":)");
      append_json_string("appended by an earlier run of producer " + *o_.producer_id, scratch_);
      fill(hold(in));
    }
    return;
  }
  if (auto why = producer_.oversized(p, kp, ip, headers, value.size(), seq))
    return invalid(in, line, *why);
  // Its place is taken first: add() may append (and report) the record at once.
  if (o_.receipts) queued_[static_cast<size_t>(p.value)].push_back(hold(in));
  if (timestamp) producer_.timestamp_next(*timestamp);
  if (!o_.envelope) producer_.value_text_next(json);  // the value is the whole text
  producer_.add(p, kp, ip, headers, value, seq);
}

void Importer::invalid(LineReader& in, std::string_view line, const std::string& why) {
  if (!o_.skip_invalid && o_.expect_version)  // all or nothing
    throw Error(Errc::invalid_input,
                fmt::format("{}:{}: {} (nothing was appended)", in.name(), in.line_number(), why));
  if (!o_.skip_invalid) {
    producer_.flush();  // everything before the bad line is appended and durable
    throw Error(Errc::invalid_input,
                fmt::format("{}:{}: {} (lines before it were appended; --skip-invalid skips "
                            "bad lines)",
                            in.name(), in.line_number(), why));
  }
  ++skipped_;
  if (skipped_ <= kReportSkipped)  // an error, printed even with --quiet
    tool::note(
        fmt::format("skipped {}:{}: {}{}", in.name(), in.line_number(), why,
                    skipped_ == kReportSkipped ? " (further skipped lines are only counted)" : ""));
  if (reject_.valid()) reject(line, true);
  if (o_.receipts) {
    scratch_.clear();
    scratch_.append(R"({"topic":)");
    append_json_string(producer_.topic().name, scratch_);
    scratch_.append(R"(,"skipped":)");
    append_json_string(why, scratch_);
    fill(hold(in));
  }
}

void Importer::reject(std::string_view bytes, bool last) {
  if (!write_all(reject_.get(), bytes.data(), bytes.size()) ||
      (last && !write_all(reject_.get(), "\n", 1)))
    throw_errno("cannot write " + *o_.reject_file);
}

std::string appended_so_far(const ImportOptions& o, const Producer& producer) {
  uint64_t n = producer.appended();
  std::string s = fmt::format("{} event{} {} appended and durable before the failure", n,
                              n == 1 ? "" : "s", n == 1 ? "was" : "were");
  if (n > 0 && producer.partitions_appended() > 1)
    s += " (in several partitions: not necessarily a prefix of the input)";
  if (tool::on_kafka()) {
    if (n > 0)
      s += "; Kafka does not deduplicate event ids: to go on, send again only the lines "
           "that got no receipt (--receipts)";
  } else if (o.id_field || o.producer_id)
    s += "; running the same command again appends only what is missing";
  else if (n > 0)
    s += "; to resume without duplicates, run again with --id-field (events with ids) or "
         "--producer-id (the same input)";
  return s;
}

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
      sample_lines = static_cast<uint64_t>(
          std::count(head.begin(), head.begin() + static_cast<ptrdiff_t>(sample_bytes), '\n'));
    }
  }
  return sample_lines == 0 ? 0 : bytes / (sample_bytes / sample_lines);
}

}  // namespace pspf::tool
