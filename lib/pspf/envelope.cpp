#include "pspf/envelope.h"

#include <fmt/format.h>

#include <cstring>
#include <iterator>

#include "pspf/error.h"
#include "pspf/json_codec.h"
#include "pspf/msgpack.h"

namespace pspf {

bool is_string_map(std::string_view msgpack) { return msgpack_is_string_map(msgpack); }

std::optional<std::string> record_problem(const RecordView& r, Buffer& scratch) {
  if (!r.headers.empty() && !is_string_map(r.headers)) return std::string("bad headers");
  scratch.clear();
  const char* v = r.value.data();
  const char* end = v + r.value.size();
  // The value fills its bin: bytes after it would be invisible to every reader.
  if (!msgpack_to_json(&v, end, scratch) || v != end) return std::string("a bad value");
  return std::nullopt;
}

std::optional<std::string> parse_envelope(std::string_view msgpack, EnvelopeFields& out) {
  out = EnvelopeFields{};
  const char* p = msgpack.data();
  const char* end = p + msgpack.size();
  uint32_t n;
  if (!msgpack_get_map_header(&p, end, n)) return std::string("an envelope must be a JSON object");
  bool has_value = false;
  // The fields pspf-replay -J writes: one of them twice would leave it to the
  // order which one counts. (Other members are ignored, repeated or not.)
  static constexpr std::string_view kFields[] = {"topic", "partition", "offset",  "timestamp",
                                                 "key",   "id",        "headers", "value"};
  unsigned seen = 0;
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view name;
    if (!msgpack_get_str(&p, end, name)) return std::string("bad field name");
    for (unsigned f = 0; f < std::size(kFields); ++f)
      if (name == kFields[f]) {
        if (seen & (1u << f))
          return fmt::format("envelope field \"{}\" appears more than once", name);
        seen |= 1u << f;
      }
    const char* start = p;
    if (!msgpack_skip(&p, end)) return std::string("bad field value");
    std::string_view raw(start, static_cast<size_t>(p - start));
    const char* q = start;
    if (name == "key" || name == "id") {
      bool& has = name == "key" ? out.has_key : out.has_id;
      std::string_view& dst = name == "key" ? out.key : out.id;
      if (msgpack_get_nil(&q, p)) {
        has = false;
      } else if (msgpack_get_str(&q, p, dst)) {
        has = true;
      } else {
        return fmt::format("envelope field \"{}\" must be a string or null", name);
      }
    } else if (name == "headers") {
      if (msgpack_get_nil(&q, p)) continue;
      uint32_t count;
      if (!is_string_map(raw) || !msgpack_get_map_header(&q, p, count))
        return std::string("envelope field \"headers\" must be an object of strings");
      out.headers = count == 0 ? std::string_view() : raw;
    } else if (name == "timestamp") {
      int64_t ms;
      if (msgpack_get_int(&q, p, ms) && ms >= 0) out.timestamp = Timestamp(ms);
    } else if (name == "value") {
      out.value = raw;
      has_value = true;
    }
  }
  if (!has_value) return std::string("envelope has no \"value\" field");
  return std::nullopt;
}

void write_envelope(std::string_view topic, PartitionId p, const RecordView& r, Buffer& out) {
  out.append(R"({"topic":)");
  append_json_string(topic, out);
  char num[96];
  auto end = fmt::format_to(num, R"(,"partition":{},"offset":{},"timestamp":{},"key":)", p.value,
                            r.offset.value, r.timestamp.value);
  out.append(num, static_cast<size_t>(end - num));
  if (r.has_key)
    append_json_string(r.key, out);
  else
    out.append("null");
  out.append(R"(,"id":)");
  if (r.has_id)
    append_json_string(r.id, out);
  else
    out.append("null");
  out.append(R"(,"headers":)");
  if (r.headers.empty()) {
    out.append("{}");
  } else {
    const char* h = r.headers.data();
    if (!msgpack_to_json(&h, h + r.headers.size(), out))
      throw Error(Errc::corrupt,
                  fmt::format("topic {} partition {}: record at offset {} has bad headers", topic,
                              p.value, r.offset.value));
  }
  out.append(R"(,"value":)");
  const char* v = r.value.data();
  if (!msgpack_to_json(&v, v + r.value.size(), out))
    throw Error(Errc::corrupt,
                fmt::format("topic {} partition {}: record at offset {} has a bad value", topic,
                            p.value, r.offset.value));
  out.push_back('}');
}

}  // namespace pspf

namespace pspf {

void write_record_line(std::string_view topic, PartitionId p, const RecordView& r, bool envelope,
                       Buffer& out) {
  if (envelope) {
    // An envelope is written field by field: one whose headers or value cannot print
    // takes back what it wrote, or the tool's flush on the way out would print half a
    // line before the error.
    size_t start = out.size();
    try {
      write_envelope(topic, p, r, out);
    } catch (...) {
      out.resize(start);
      throw;
    }
  } else {
    const char* v = r.value.data();
    if (!msgpack_to_json(&v, v + r.value.size(), out))
      throw Error(Errc::corrupt,
                  fmt::format("topic {} partition {}: record at offset {} has a bad value", topic,
                              p.value, r.offset.value));
  }
  out.push_back('\n');
}

}  // namespace pspf
