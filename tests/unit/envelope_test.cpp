// envelope.cpp: a record prints as its value or as the whole envelope, exactly, and
// an envelope read back gives its fields or the reason it is not one.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "pspf/buffer.h"
#include "pspf/envelope.h"
#include "pspf/error.h"
#include "pspf/msgpack.h"

using namespace pspf;

namespace {

std::string str(std::string_view s) {
  Buffer b;
  msgpack_put_str(b, s);
  return std::string(b.view());
}

// MessagePack of {"h":"v"}.
std::string headers() {
  Buffer b;
  msgpack_put_map_header(b, 1);
  msgpack_put_str(b, "h");
  msgpack_put_str(b, "v");
  return std::string(b.view());
}

// MessagePack of a map of the given (name, already-encoded value) pairs.
std::string map_of(const std::vector<std::pair<std::string, std::string>>& fields) {
  Buffer b;
  msgpack_put_map_header(b, static_cast<uint32_t>(fields.size()));
  for (const auto& [k, v] : fields) {
    msgpack_put_str(b, k);
    b.append(v.data(), v.size());
  }
  return std::string(b.view());
}

std::string int_of(int64_t v) {
  Buffer b;
  msgpack_put_int(b, v);
  return std::string(b.view());
}

std::string reason_of(const std::string& msgpack) {
  EnvelopeFields f;
  auto why = parse_envelope(msgpack, f);
  return why ? *why : "(valid)";
}

}  // namespace

TEST_CASE("a record prints as its value line, or as its whole envelope") {
  std::string h = headers(), v = int_of(42);
  RecordView r;
  r.offset = Offset(5);
  r.timestamp = Timestamp(1764000000000);
  r.has_key = true;
  r.key = "k\"1";
  r.has_id = true;
  r.id = "e1";
  r.headers = h;
  r.value = v;
  Buffer out;
  write_record_line("t", PartitionId(3), r, false, out);
  CHECK(out.view() == "42\n");
  out.clear();
  write_record_line("t", PartitionId(3), r, true, out);
  CHECK(out.view() ==
        "{\"topic\":\"t\",\"partition\":3,\"offset\":5,\"timestamp\":1764000000000,"
        "\"key\":\"k\\\"1\",\"id\":\"e1\",\"headers\":{\"h\":\"v\"},\"value\":42}\n");
  RecordView bare;
  bare.value = v;
  out.clear();
  write_envelope("t", PartitionId(0), bare, out);
  CHECK(out.view() ==
        "{\"topic\":\"t\",\"partition\":0,\"offset\":0,\"timestamp\":0,"
        "\"key\":null,\"id\":null,\"headers\":{},\"value\":42}");
}

TEST_CASE("a record that cannot print leaves no part of its line behind") {
  std::string bad_headers = "\x81\xa1h", bad_value = "\xc1";  // cut short; never used
  for (bool envelope : {false, true})
    for (int which = 0; which < 2; ++which) {
      if (!envelope && which == 0) continue;  // without an envelope headers are not printed
      RecordView r;
      r.offset = Offset(7);
      r.has_key = true;
      r.key = "k";
      std::string h = headers(), v = int_of(1);
      r.headers = which == 0 ? std::string_view(bad_headers) : std::string_view(h);
      r.value = which == 1 ? std::string_view(bad_value) : std::string_view(v);
      Buffer out;
      out.append("1\n");  // the line before, already printed into the buffer
      CAPTURE(envelope);
      CAPTURE(which);
      CHECK_THROWS_WITH_AS(write_record_line("t", PartitionId(2), r, envelope, out),
                           which == 0 ? "topic t partition 2: record at offset 7 has bad headers"
                                      : "topic t partition 2: record at offset 7 has a bad value",
                           Error);
      CHECK(out.view() == "1\n");
    }
}

TEST_CASE("an envelope reads back as its fields; topic, offset and time are ignored") {
  std::string h = headers(), v = int_of(42);
  std::string env = map_of({{"topic", str("other")},
                            {"offset", int_of(9)},
                            {"key", str("k1")},
                            {"id", str("e1")},
                            {"headers", h},
                            {"value", v}});
  EnvelopeFields f;
  REQUIRE_FALSE(parse_envelope(env, f));
  CHECK(f.has_key);
  CHECK(f.key == "k1");
  CHECK(f.has_id);
  CHECK(f.id == "e1");
  CHECK(f.headers == h);
  CHECK(f.value == v);
  EnvelopeFields g;
  REQUIRE_FALSE(parse_envelope(map_of({{"value", v}}), g));
  CHECK_FALSE(g.has_key);
  CHECK_FALSE(g.has_id);
  CHECK(g.headers.empty());
}

TEST_CASE("an envelope's timestamp is read when it is a whole number of milliseconds") {
  std::string v = int_of(1);
  EnvelopeFields f;
  REQUIRE_FALSE(parse_envelope(map_of({{"timestamp", int_of(1764000000123)}, {"value", v}}), f));
  REQUIRE(f.timestamp.has_value());
  CHECK(f.timestamp->value == 1764000000123);
  // Anything else is ignored, as the local log ignores the field altogether.
  for (const std::string& other : {str("1764000000123"), int_of(-5), headers()}) {
    EnvelopeFields g;
    REQUIRE_FALSE(parse_envelope(map_of({{"timestamp", other}, {"value", v}}), g));
    CHECK_FALSE(g.timestamp.has_value());
  }
  EnvelopeFields none;
  REQUIRE_FALSE(parse_envelope(map_of({{"value", v}}), none));
  CHECK_FALSE(none.timestamp.has_value());
}

TEST_CASE("what is not an envelope says why") {
  std::string v = int_of(1);
  CHECK(reason_of(map_of({{"key", str("k")}})) == "envelope has no \"value\" field");
  CHECK(reason_of(map_of({{"key", int_of(1)}, {"value", v}})) ==
        "envelope field \"key\" must be a string or null");
  CHECK(reason_of(map_of({{"id", int_of(1)}, {"value", v}})) ==
        "envelope field \"id\" must be a string or null");
  CHECK(reason_of(map_of({{"headers", map_of({{"h", int_of(1)}})}, {"value", v}})) ==
        "envelope field \"headers\" must be an object of strings");
  CHECK(reason_of(int_of(1)) == "an envelope must be a JSON object");
  Buffer nil;
  msgpack_put_nil(nil);
  EnvelopeFields f;
  REQUIRE_FALSE(parse_envelope(map_of({{"key", std::string(nil.view())}, {"value", v}}), f));
  CHECK_FALSE(f.has_key);
  CHECK(is_string_map(headers()));
  CHECK_FALSE(is_string_map(map_of({{"h", int_of(1)}})));
  CHECK_FALSE(is_string_map(int_of(1)));
}
