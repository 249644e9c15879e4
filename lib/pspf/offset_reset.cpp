#include "pspf/offset_reset.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "pspf/batch.h"
#include "pspf/error.h"
#include "pspf/parse_int.h"

namespace pspf {

ResetTarget explicit_target(const Log& log, const TopicConfig& t, PartitionId p, Offset current,
                            Offset wanted) {
  return reset_target(log, t, p, current, ResetMode{ResetMode::Kind::offset, wanted.value});
}

ResetTarget reset_target(const Log& log, const TopicConfig& t, PartitionId p, Offset current,
                         const ResetMode& mode) {
  using Kind = ResetMode::Kind;
  OffsetBounds b = log.offset_bounds(t, p);
  Offset wanted;
  switch (mode.kind) {
    case Kind::earliest: wanted = b.start; break;
    case Kind::latest: wanted = b.end; break;
    case Kind::offset: wanted = Offset(mode.value); break;
    case Kind::shift:
      if (current.value < 0)
        throw Error(Errc::not_found,
                    fmt::format("{}: no committed offset to shift from (choose a start with "
                                "--to-offset, --to-earliest or --to-datetime)",
                                Log::label(t, p)));
      wanted = Offset(current.value + mode.value);
      break;
    case Kind::time: wanted = log.offset_for_time(t, p, Timestamp(mode.value), b.end); break;
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
