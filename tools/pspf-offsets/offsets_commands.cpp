#include "pspf-offsets/offsets_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/options.h"
#include "common/output.h"
#include "common/tool.h"
#include "pspf/clock.h"
#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/log.h"
#include "pspf/offset_reset.h"
#include "pspf/parse_int.h"
#include "pspf/position.h"

using json = nlohmann::ordered_json;
using Rows = std::vector<std::vector<std::string>>;

namespace pspf::tool {
namespace {

// Columns padded to their widest cell, separated by a space.
std::string render(const Rows& rows) {
  std::vector<size_t> w(rows.empty() ? 0 : rows[0].size());
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i)
      out += i + 1 < r.size() ? fmt::format("{:<{}} ", r[i], w[i]) : r[i] + "\n";
  }
  return out;
}

std::string num(std::optional<int64_t> v) { return v ? std::to_string(*v) : "-"; }
json num_json(std::optional<int64_t> v) { return v ? json(*v) : json(nullptr); }
std::optional<int64_t> committed(Offset o) {
  return o.value >= 0 ? std::optional(o.value) : std::nullopt;
}

// 850ms, 12.3s, 5m07s, 2h03m, 3d04h.
std::string human_ms(int64_t ms) {
  if (ms < 1000) return fmt::format("{}ms", ms);
  int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}.{}s", s, ms % 1000 / 100);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

// A refusal to act: reported like an error, exit status 1.
int refuse(const std::string& why) {
  note("error: " + why);
  return kExitFailure;
}

std::string refusal(const std::string& what, int live) {
  return fmt::format(
      "cannot {}: it has {} live member{} (stop {} first, or add --force: "
      "a live member's next commit is then refused and it resumes from the new offsets)",
      what, live, live == 1 ? "" : "s", live == 1 ? "it" : "them");
}

// Throws Error(not_found) when the group has neither offsets nor members.
void require_group(const Log& log, const std::string& group) {
  if (log.group_exists(group)) return;
  throw Error(Errc::not_found,
              fmt::format("group '{}' does not exist (pspf-offsets list shows the groups)", group));
}

std::string who() { return fmt::format("pspf-offsets:{}", ::getpid()); }

// Says on stderr that r's target was clamped into the partition's range, if it was.
void warn_if_clamped(const ResetTarget& r) {
  if (!r.clamped()) return;
  bool low = r.wanted < r.bounds.start;
  note(fmt::format("warning: topic {} partition {}: offset {} is {} {}; using {}", r.tp.first,
                   r.tp.second, r.wanted.value, low ? "before the log start" : "past the log end",
                   r.target.value, r.target.value));
}

int list_cmd(const Log& log, const OffsetsOptions& o) {
  auto& out = stdout_output();
  json arr = json::array();
  for (const auto& name : log.list_groups()) {
    if (!o.as_json) {
      out.write(name + "\n");
      continue;
    }
    std::set<std::string> topics;
    for (const auto& [tp, c] : log.committed_offsets(name)) topics.insert(tp.first);
    arr.push_back({{"group", name}, {"topics", topics}, {"live_members", log.live_members(name)}});
  }
  if (o.as_json) out.write(arr.dump() + "\n");
  return kExitOk;
}

int describe_cmd(const Log& log, const OffsetsOptions& o) {
  require_group(log, o.group);
  auto state = log.committed_offsets(o.group);
  Timestamp now = now_ms();
  Rows rows{{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "TIME-LAG",
             "OWNER"}};
  json arr = json::array();
  std::map<std::string, std::optional<TopicConfig>> topics;
  std::map<std::string, std::map<int32_t, OwnerInfo>> owners;
  for (const auto& [tp, c] : state) {
    auto [it, fresh] = topics.try_emplace(tp.first);
    if (fresh && (it->second = log.find_topic(tp.first)))
      owners[tp.first] = log.partition_owners(o.group, *it->second);
    const std::optional<TopicConfig>& t = it->second;
    std::optional<int64_t> current = committed(c.offset), end, lag, time_lag;
    if (t && tp.second < t->partitions) {  // else the topic was deleted or recreated smaller
      PartitionId p(tp.second);
      Offset e = log.offset_bounds(*t, p).end;
      end = e.value;
      if (current) {
        lag = e.value - *current;
        if (*lag < 0)
          note(
              fmt::format("warning: group {} {}: committed offset {} is past the log end {} "
                          "(records the group consumed are gone from the log); the next member "
                          "restarts it as its --from says",
                          o.group, Log::label(*t, p), *current, e.value));
        time_lag = 0;
        if (*lag > 0)
          if (auto ts = log.append_time_from(*t, p, c.offset, e))
            time_lag = std::max<int64_t>(0, now.value - ts->value);
      }
    }
    const OwnerInfo* owner = nullptr;
    if (auto ot = owners.find(tp.first); ot != owners.end())
      if (auto oi = ot->second.find(tp.second); oi != ot->second.end()) owner = &oi->second;
    rows.push_back({o.group, tp.first, std::to_string(tp.second), num(current), num(end), num(lag),
                    time_lag && *time_lag > 0 ? human_ms(*time_lag) : "-",
                    owner ? fmt::format("{}@{}", owner->pid, owner->host) : "-"});
    arr.push_back(
        {{"group", o.group},
         {"topic", tp.first},
         {"partition", tp.second},
         {"current_offset", num_json(current)},
         {"log_end_offset", num_json(end)},
         {"lag", num_json(lag)},
         {"past_log_end", lag && *lag < 0},
         {"time_lag", num_json(time_lag)},
         {"owner", owner
                       ? json{{"member", owner->member}, {"pid", owner->pid}, {"host", owner->host}}
                       : json(nullptr)}});
  }
  stdout_output().write(o.as_json ? arr.dump() + "\n" : render(rows));
  return kExitOk;
}

struct Scope {
  TopicConfig topic;
  std::set<int32_t> partitions;
};

// "T", "T:0,2", "T:1-3" -> the topic and its partitions (all of them when none are
// named). Throws Error(usage) for a bad list, Error(not_found) for a missing topic.
Scope parse_scope(const Log& log, const std::string& spec) {
  size_t colon = spec.find(':');
  Scope s{log.topic(spec.substr(0, colon)), {}};
  if (colon == std::string::npos) {
    for (int32_t p = 0; p < s.topic.partitions; ++p) s.partitions.insert(p);
    return s;
  }
  for (PartitionId p : parse_partition_list(std::string_view(spec).substr(colon + 1), s.topic,
                                            fmt::format("--topic '{}'", spec)))
    s.partitions.insert(p.value);
  return s;
}

ResetMode reset_mode(const OffsetsOptions& o) {
  const auto& m = o.modes;
  if (*m[0]) return {ResetMode::Kind::earliest, 0};
  if (*m[1]) return {ResetMode::Kind::latest, 0};
  if (*m[2]) {
    if (o.to_offset < 0)
      throw Error(Errc::usage,
                  fmt::format("invalid --to-offset {}: offsets are >= 0", o.to_offset));
    return {ResetMode::Kind::offset, o.to_offset};
  }
  if (*m[3]) {
    std::string_view s = o.shift_by;
    if (s.starts_with('+')) s.remove_prefix(1);  // from_chars takes "-N" but not "+N"
    std::optional<int64_t> v = parse_int<int64_t>(s);
    if (!v || s[0] == '+' || (s[0] == '-' && s.size() < o.shift_by.size()))
      throw Error(
          Errc::usage,
          fmt::format("invalid --shift-by '{}': expected a number like 10 or -10", o.shift_by));
    return {ResetMode::Kind::shift, *v};
  }
  if (*m[4]) return {ResetMode::Kind::time, parse_iso8601(o.to_datetime).value};
  return {ResetMode::Kind::time, now_ms().value - parse_duration_ms(o.by_duration)};
}

std::string read_input(const std::string& path) {
  if (path == "-") {  // a pipe: read as a stream, not by position
    std::string text;
    char chunk[65536];
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (n == 0) return text;
      if (n < 0 && errno != EINTR) throw_errno("cannot read stdin");
      if (n > 0) text.append(chunk, static_cast<size_t>(n));
    }
  }
  // The user's own file, named on the command line: a symlink is followed, as by
  // any command-line tool (only the data directory refuses them).
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_errno("cannot read " + path);
  return read_to_end(fd.get(), path);
}

using Scopes = std::map<std::string, Scope>;
using State = std::map<TopicPartition, Committed>;

// The partitions --topic and --all-topics select (empty: no selection given).
Scopes select(const Log& log, const OffsetsOptions& o, const State& state) {
  Scopes scopes;
  for (const auto& spec : o.topics) {
    Scope s = parse_scope(log, spec);
    auto [it, fresh] = scopes.try_emplace(s.topic.name, s);
    if (!fresh) it->second.partitions.insert(s.partitions.begin(), s.partitions.end());
  }
  if (!o.all_topics) return scopes;
  require_group(log, o.group);
  for (const auto& [tp, c] : state) {
    if (scopes.count(tp.first)) continue;
    if (log.find_topic(tp.first)) {
      scopes.emplace(tp.first, parse_scope(log, tp.first));
    } else {
      note(fmt::format("warning: skipping topic {}: it no longer exists", tp.first));
      scopes.emplace(tp.first, Scope{});  // selects nothing; noted once
    }
  }
  return scopes;
}

Offset current_offset(const State& state, const TopicPartition& tp) {
  auto it = state.find(tp);
  return it == state.end() ? Offset(-1) : it->second.offset;
}

// The plan in the --from-file CSV, limited to `scopes` when there are any.
std::vector<ResetTarget> plan_from_file(const Log& log, const OffsetsOptions& o,
                                        const Scopes& scopes, const State& state) {
  std::vector<ResetTarget> plan;
  std::map<std::string, TopicConfig> topics;
  for (const auto& [tp, off] : parse_offset_plan(read_input(o.from_file), o.from_file)) {
    auto sc = scopes.find(tp.first);
    if (!scopes.empty() && (sc == scopes.end() || !sc->second.partitions.count(tp.second)))
      continue;
    auto it = topics.find(tp.first);
    if (it == topics.end()) it = topics.emplace(tp.first, log.topic(tp.first)).first;
    if (tp.second >= it->second.partitions)
      throw Error(Errc::invalid_input,
                  fmt::format("{}: topic {} has no partition {} (it has {})", o.from_file, tp.first,
                              tp.second, it->second.partitions));
    plan.push_back(
        explicit_target(log, it->second, PartitionId(tp.second), current_offset(state, tp), off));
  }
  return plan;
}

void print_plan(const OffsetsOptions& o, const std::vector<ResetTarget>& plan) {
  Rows rows{{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"}};
  json arr = json::array();
  for (const auto& r : plan) {
    rows.push_back({o.group, r.tp.first, std::to_string(r.tp.second), num(committed(r.current)),
                    std::to_string(r.target.value)});
    arr.push_back({{"group", o.group},
                   {"topic", r.tp.first},
                   {"partition", r.tp.second},
                   {"current_offset", num_json(committed(r.current))},
                   {"new_offset", r.target.value}});
  }
  auto& out = stdout_output();
  out.write(o.export_csv ? format_offset_plan(plan) : o.as_json ? arr.dump() + "\n" : render(rows));
  out.flush();  // the plan before the note that says what became of it
}

int reset_cmd(const Log& log, const OffsetsOptions& o) {
  size_t given =
      std::count_if(o.modes.begin(), o.modes.end(), [](cli::Option* m) { return m->count() > 0; });
  if (given != 1)
    throw Error(Errc::usage,
                fmt::format("reset: {}: give exactly one of --to-earliest, --to-latest, "
                            "--to-offset, --shift-by, --to-datetime, --by-duration, --from-file",
                            given ? "several modes were given" : "no mode was given"));
  bool from_file = o.modes[6]->count() > 0;
  if (o.topics.empty() && !o.all_topics && !from_file)
    throw Error(Errc::usage, "reset: say which partitions: --topic T[:PARTITIONS] or --all-topics");
  std::optional<ResetMode> mode;
  if (!from_file) mode = reset_mode(o);
  State state = log.committed_offsets(o.group);
  Scopes scopes = select(log, o, state);
  if (int live = log.live_members(o.group); live > 0 && !o.force)
    return refuse(refusal(fmt::format("reset group {}", o.group), live));
  std::vector<ResetTarget> plan;
  if (from_file) {
    plan = plan_from_file(log, o, scopes, state);
  } else {
    for (const auto& [name, s] : scopes)
      for (int32_t p : s.partitions)
        plan.push_back(
            reset_target(log, s.topic, PartitionId(p), current_offset(state, {name, p}), *mode));
  }
  std::sort(plan.begin(), plan.end(), [](const auto& a, const auto& b) { return a.tp < b.tp; });
  for (const auto& r : plan) warn_if_clamped(r);
  if (o.execute) {
    std::vector<std::pair<TopicPartition, Offset>> offsets;
    for (const auto& r : plan) offsets.emplace_back(r.tp, r.target);
    log.set_offsets(o.group, offsets, who());
  }
  print_plan(o, plan);
  if (o.execute)
    note(fmt::format("reset {} partition{} of group {}", plan.size(), plan.size() == 1 ? "" : "s",
                     o.group));
  else
    note("dry run: nothing changed (add --execute to apply)");
  return kExitOk;
}

int commit_cmd(const Log& log, const OffsetsOptions& o) {
  TopicConfig t = log.topic(o.topic);
  if (o.partition < 0 || o.partition >= t.partitions)
    throw Error(Errc::usage, fmt::format("topic {} has no partition {} (it has {})", t.name,
                                         o.partition, t.partitions));
  if (o.offset < 0)
    throw Error(Errc::usage, fmt::format("invalid --offset {}: offsets are >= 0", o.offset));
  PartitionId p(o.partition);
  auto owners = log.partition_owners(o.group, t);
  if (auto it = owners.find(p.value); it != owners.end() && !o.force)
    return refuse(fmt::format(
        "cannot commit for group {}: {} is owned by live member {}@{} (stop it first, or "
        "add --force: its next commit is then refused and it resumes from the new offset)",
        o.group, Log::label(t, p), it->second.pid, it->second.host));
  auto state = log.committed_offsets(o.group);
  ResetTarget r =
      explicit_target(log, t, p, current_offset(state, {t.name, p.value}), Offset(o.offset));
  warn_if_clamped(r);
  log.set_offsets(o.group, {{r.tp, r.target}}, who());
  note(fmt::format("committed offset {} for group {} on {} (was {})", r.target.value, o.group,
                   Log::label(t, p), num(committed(r.current))));
  return kExitOk;
}

int remove_cmd(const Log& log, const OffsetsOptions& o) {
  require_group(log, o.group);
  if (int live = log.live_members(o.group); live > 0 && !o.force)
    return refuse(refusal(fmt::format("delete group {}", o.group), live));
  log.delete_group(o.group);
  note(fmt::format("deleted group {}", o.group));
  return kExitOk;
}

}  // namespace

int list_groups(const Log& log, const OffsetsOptions& o) { return list_cmd(log, o); }
int describe_group(const Log& log, const OffsetsOptions& o) { return describe_cmd(log, o); }
int reset_offsets(const Log& log, const OffsetsOptions& o) { return reset_cmd(log, o); }
int commit_offset(const Log& log, const OffsetsOptions& o) { return commit_cmd(log, o); }
int delete_group(const Log& log, const OffsetsOptions& o) { return remove_cmd(log, o); }

}  // namespace pspf::tool
