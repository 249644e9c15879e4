#include "pspf/transform_output.h"

#include <fmt/format.h>

#include <vector>

namespace pspf {

TopicConfig TransformOutput::open(Log& log, const std::string& name, int32_t partitions) {
  bool created = false;
  return log.open_or_create(name, partitions, created);
}

TransformOutput::TransformOutput(Log& log, const std::string& out_topic, int32_t partitions,
                                 std::string key_field, std::string group, std::string source_topic)
    : producer_(log.output_producer(open(log, out_topic, partitions), group)),
      key_field_(std::move(key_field)),
      group_(std::move(group)),
      source_(std::move(source_topic)) {}

std::optional<std::string> TransformOutput::append(PartitionId p, Offset first, Offset last,
                                                   std::string_view output) {
  // Check and convert every line before appending any: a bad batch appends nothing.
  padded_.assign(output);
  padded_.append(kJsonPadding, ' ');
  struct Line {
    size_t begin, end;
    std::string key;
    bool has_key;
    std::string id;
  };
  std::vector<Line> lines;
  values_.clear();
  FieldCapture key[1];
  key[0].path = key_field_;
  std::string prefix =
      fmt::format("{}/{}/{}/{}-{}/", group_, source_, p.value, first.value, last.value);
  size_t pos = 0, number = 0;
  while (pos < output.size()) {
    size_t nl = output.find('\n', pos);
    if (nl == std::string_view::npos) nl = output.size();
    std::string_view text(padded_.data() + pos, nl - pos);
    ++number;
    pos = nl + 1;
    if (text.empty()) continue;
    size_t begin = values_.size();
    if (!codec_.convert(text, values_, key))
      return fmt::format("output line {} is not valid JSON: {}", number, codec_.error());
    if (!key_field_.empty() && !key[0].found)
      return fmt::format("output line {} has no key field {}", number, key_field_);
    Line& l = lines.emplace_back(Line{begin, values_.size(), key[0].text, key[0].found,
                                      prefix + std::to_string(lines.size())});
    std::string_view idv = l.id, keyv = l.key;
    const std::string_view* kp = l.has_key ? &keyv : nullptr;
    if (auto why = producer_->oversized(producer_->route(kp, &idv), kp, &idv, {}, l.end - l.begin))
      return fmt::format("output line {}: {}", number, *why);
  }
  for (const Line& l : lines) {
    std::string_view idv = l.id, keyv = l.key;
    const std::string_view* kp = l.has_key ? &keyv : nullptr;
    std::string_view value(values_.data() + l.begin, l.end - l.begin);
    producer_->add(producer_->route(kp, &idv), kp, &idv, {}, value);
  }
  producer_->flush();
  return std::nullopt;
}

TransformOutput::Delivery TransformOutput::deliver(Consumer& input, PartitionId p, Offset first,
                                                   Offset next, std::string_view output) {
  Delivery d;
  if ((d.failed = append(p, first, Offset(next.value - 1), output))) return d;
  InputCommit c = producer_->commit_input(input, p, next);
  if (c.outcome == InputCommit::aborted)
    d.failed = fmt::format("output not written: {}", c.why);
  else
    d.committed = c.outcome == InputCommit::committed;
  return d;
}

}  // namespace pspf
