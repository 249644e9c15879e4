#include "pspf/offset_reset.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "pspf/batch.h"
#include "pspf/error.h"
#include "pspf/parse_int.h"

namespace pspf {

namespace {

// Calls fn(record) for records of partition p from where `reader` stands, in offset
// order, up to `end`, until fn returns true. Returns whether it did.
template <typename Fn>
bool scan_records(PartitionReader& reader, Offset end, Fn&& fn) {
  BatchRef b;
  while (reader.next(b)) {
    if (b.header.base_offset >= end) return false;
    RecordIterator it(b.data, b.header);
    RecordView r;
    while (it.next(r)) {
      if (r.offset >= end) return false;
      if (fn(r)) return true;
    }
  }
  return false;
}

}  // namespace

OffsetBounds offset_bounds(const Log& log, const TopicConfig& t, PartitionId p) {
  auto reader = log.reader(t, p);
  OffsetBounds b;
  b.start = reader->log_start();
  b.end = reader->log_end();
  return b;
}

Offset offset_for_time(const Log& log, const TopicConfig& t, PartitionId p, Timestamp time,
                       Offset end) {
  auto reader = log.reader(t, p);
  return offset_of_position(*reader, {Position::Kind::time, time.value}, Offset(0), end);
}

std::optional<Timestamp> append_time_from(const Log& log, const TopicConfig& t, PartitionId p,
                                          Offset from, Offset end) {
  if (from >= end) return std::nullopt;
  auto reader = log.reader(t, p);
  reader->seek(from);
  std::optional<Timestamp> found;
  scan_records(*reader, end, [&](const RecordView& r) {
    if (r.offset < from) return false;  // earlier records of the batch the seek landed in
    found = r.timestamp;
    return true;
  });
  return found;
}

ResetTarget explicit_target(const Log& log, const TopicConfig& t, PartitionId p, Offset current,
                            Offset wanted) {
  ResetTarget r;
  r.tp = {t.name, p.value};
  r.current = current;
  r.bounds = offset_bounds(log, t, p);
  r.wanted = wanted;
  r.target = std::clamp(wanted, r.bounds.start, r.bounds.end);
  return r;
}

ResetTarget reset_target(const Log& log, const TopicConfig& t, PartitionId p, Offset current,
                         const ResetMode& mode) {
  using Kind = ResetMode::Kind;
  using Pos = Position::Kind;
  auto reader = log.reader(t, p);
  OffsetBounds b{reader->log_start(), reader->log_end()};
  auto at = [&](Pos kind) {
    return offset_of_position(*reader, {kind, mode.value}, b.start, b.end);
  };
  Offset wanted;
  switch (mode.kind) {
    case Kind::earliest: wanted = at(Pos::beginning); break;
    case Kind::latest: wanted = at(Pos::end); break;
    case Kind::offset: wanted = at(Pos::offset); break;
    case Kind::shift:
      if (current.value < 0)
        throw Error(Errc::not_found,
                    fmt::format("{}: no committed offset to shift from (choose a start with "
                                "--to-offset, --to-earliest or --to-datetime)",
                                Log::label(t, p)));
      wanted = Offset(current.value + mode.value);
      break;
    case Kind::time: wanted = at(Pos::time); break;
  }
  ResetTarget r;
  r.tp = {t.name, p.value};
  r.current = current;
  r.bounds = b;
  r.wanted = wanted;
  r.target = std::clamp(wanted, b.start, b.end);
  return r;
}

std::vector<std::pair<TopicPartition, Offset>> parse_offset_plan(const std::string& text,
                                                                 const std::string& source) {
  std::vector<std::pair<TopicPartition, Offset>> out;
  std::set<TopicPartition> seen;
  size_t pos = 0;
  for (int line_no = 1; pos < text.size(); ++line_no) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto bad = [&](std::string_view why) {
      return Error(
          Errc::invalid_input,
          fmt::format("{}: line {}: {}: expected topic,partition,offset", source, line_no, why));
    };
    size_t c1 = line.find(','), c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos || line.find(',', c2 + 1) != std::string_view::npos)
      throw bad("not three comma-separated fields");
    std::string topic(line.substr(0, c1));
    int64_t part = -1, offset = -1;
    if (topic.empty()) throw bad("no topic");
    if (!parse_int(line.substr(c1 + 1, c2 - c1 - 1), part) || part < 0 || part > INT32_MAX)
      throw bad("bad partition");
    if (!parse_int(line.substr(c2 + 1), offset) || offset < 0) throw bad("bad offset");
    TopicPartition tp{topic, static_cast<int32_t>(part)};
    if (!seen.insert(tp).second)
      throw bad(fmt::format("topic {} partition {} is listed twice", topic, part));
    out.emplace_back(tp, Offset(offset));
  }
  return out;
}

std::string format_offset_plan(const std::vector<ResetTarget>& plan) {
  std::string out;
  for (const auto& r : plan)
    out += fmt::format("{},{},{}\n", r.tp.first, r.tp.second, r.target.value);
  return out;
}

}  // namespace pspf
