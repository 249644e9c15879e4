// Importer: the input side of pspf-produce: reads JSON lines (or envelopes), takes
// keys and ids from them, checks them and hands records to a Producer; invalid
// lines stop the import or are skipped and set aside (pspf-produce(1)).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pspf/buffer.h"
#include "pspf/file.h"
#include "pspf/json_codec.h"
#include "pspf/line_reader.h"
#include "pspf/producer.h"

namespace pspf::tool {

// pspf-produce's options.
struct ImportOptions {
  std::string dir, topic;
  std::vector<std::string> files;
  std::optional<int32_t> partition;
  std::optional<std::string> key, key_field, key_delimiter, id_field, reject_file;
  std::optional<std::string> producer_id, expect_version;
  std::vector<std::string> headers;
  bool allow_missing_key = false, envelope = false, skip_invalid = false;
  bool receipts = false, quiet = false;
  int32_t partitions = 4;
  SyncMode sync = SyncMode::batch;
  size_t max_record_bytes = 1 << 20;
};

// Turns input lines into records and hands them to the producer.
class Importer {
 public:
  Importer(const ImportOptions& o, Producer& producer);
  // Reads `in` to its end (or a stop signal), queueing each valid line.
  void import(LineReader& in);

  uint64_t skipped() const { return skipped_; }
  // Lines left out because a run with the same --producer-id appended them already.
  uint64_t resumed() const { return resumed_; }
  const std::optional<std::string>& first_key() const { return first_key_; }
  // Sequence numbers continue from one input file to the next.
  void next_file(const LineReader& in) {
    seq_base_ += in.line_number();
    ++file_;
  }

  // --receipts: the producer's append hook. Receipts go out in input order, so a
  // record's receipt is held until every earlier line's is out; what is held is
  // bounded by what the producer holds unreported (queued batches and its sync
  // window), since every line is either reported or skipped at once.
  void receipt(PartitionId p, const AppendResult& r, std::string_view batch);
  // After a failure: prints the receipts still held, in order, leaving out the lines
  // whose records were never reported (they are not in the log).
  void flush_receipts();

 private:
  void record(LineReader& in, std::string_view line);
  void invalid(LineReader& in, std::string_view line, const std::string& why);
  // Appends rejected bytes to the reject file (the line ends with `last`).
  void reject(std::string_view bytes, bool last);
  // A place in the receipts' order for the current line.
  uint64_t hold(const LineReader& in);
  // Completes the receipt begun in scratch_ for place n, and prints what is ready.
  void fill(uint64_t n);

  struct Held {
    uint64_t line = 0;
    uint32_t file = 0;
    bool ready = false;
    std::string text;
  };

  static constexpr uint64_t kReportSkipped = 10;
  const ImportOptions& o_;
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
  uint32_t file_ = 0;
  std::vector<std::string> file_names_;  // JSON strings, when there are several files
  std::deque<Held> held_;                // receipts from place held_base_ on
  uint64_t held_base_ = 0;
  std::vector<std::deque<uint64_t>> queued_;  // per partition: places of queued records
  Buffer scratch_;
};

// What a failed import leaves behind, for its error message: how many events were
// appended (durable, with receipts), whether they are a prefix of the input, and how
// to resume without duplicates.
std::string appended_so_far(const ImportOptions& o, const Producer& producer);

// About how many lines the input files hold (0 when unknown: a pipe), from their
// sizes and the line length of their first MiB.
uint64_t estimate_lines(const std::vector<std::string>& files);

}  // namespace pspf::tool
