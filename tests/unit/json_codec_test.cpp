// JSON <-> MessagePack: exact round trips of tricky values, the exact MessagePack
// chosen for each number, rejection of every kind of invalid line, key field
// captures, and MessagePack decoding that never reads out of bounds on damaged bytes.
#include "pspf/json_codec.h"
#include "pspf/json_bytes.h"

#include <doctest/doctest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace pspf;

namespace {

// The line copied into a buffer followed by kJsonPadding bytes of junk that looks
// like JSON, so a parser reading the padding as data would be caught.
struct PaddedLine {
  explicit PaddedLine(std::string_view json) : bytes(json) { bytes.append(kJsonPadding, '}'); }
  std::string_view line() const { return {bytes.data(), bytes.size() - kJsonPadding}; }
  std::string bytes;
};

// JSON -> MessagePack; nullopt (and the error in *error) when convert refuses it.
std::optional<std::string> to_msgpack(std::string_view json, std::string* error = nullptr,
                                      std::span<FieldCapture> captures = {}) {
  static JsonToMsgpack codec;  // reused, as the producer does
  PaddedLine padded(json);
  Buffer out;
  out.append("prefix");
  bool ok = codec.convert(padded.line(), out, captures);
  if (error) *error = codec.error();
  if (!ok) {
    CHECK(out.view() == "prefix");  // out restored on failure
    return std::nullopt;
  }
  return std::string(out.view().substr(6));
}

// MessagePack -> JSON of a whole buffer holding exactly one value. The bytes are
// copied to an allocation of exactly their size so that AddressSanitizer catches
// any read past the end.
std::optional<std::string> to_json(std::string_view msgpack) {
  std::unique_ptr<char[]> exact(new char[msgpack.size() + 1]);
  std::memcpy(exact.get(), msgpack.data(), msgpack.size());
  const char* p = exact.get();
  const char* end = p + msgpack.size();
  Buffer out;
  out.append("prefix");
  if (!msgpack_to_json(&p, end, out)) {
    CHECK(out.view() == "prefix");
    CHECK(p == exact.get());
    return std::nullopt;
  }
  CHECK(p == end);
  const char* q = exact.get();
  CHECK(msgpack_skip(&q, end));
  CHECK(q == end);
  return std::string(out.view().substr(6));
}

std::string round_trip(std::string_view json) {
  std::string error;
  std::optional<std::string> m = to_msgpack(json, &error);
  INFO("convert error: " << error);
  REQUIRE(m.has_value());
  std::optional<std::string> j = to_json(*m);
  REQUIRE(j.has_value());
  return *j;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(char(c));
  return s;
}

std::string nested(int depth, char open, char close, std::string_view inner = "") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open == '{' ? "{\"k\":" : "[";
  s += open == '{' ? "1" : inner;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}

}  // namespace

// ---- round trips ---------------------------------------------------------------------

TEST_CASE("a typical event comes back byte for byte") {
  std::string e =
      R"({"event_id":"e-000123","type":"ITEM_CHECKED_IN","item":{"id":"item-42","qty":3},)"
      R"("user":"u7","ts":1764000000123})";
  CHECK(round_trip(e) == e);
}

TEST_CASE("whitespace is dropped and the output is compact") {
  CHECK(round_trip(" \t{ \"a\" : [ 1 , 2 , { } ] ,\r\"b\" :\"x y\" } \t\r") ==
        R"({"a":[1,2,{}],"b":"x y"})");
}

TEST_CASE("object key order and duplicate keys are kept") {
  CHECK(round_trip(R"({"b":1,"a":2,"b":3,"":4})") == R"({"b":1,"a":2,"b":3,"":4})");
}

TEST_CASE("empty object, array and string round trip") {
  CHECK(round_trip("{}") == "{}");
  CHECK(round_trip("[]") == "[]");
  CHECK(round_trip(R"("")") == R"("")");
  CHECK(round_trip(R"({"":[{},[],""]})") == R"({"":[{},[],""]})");
}

TEST_CASE("a scalar alone is a valid line") {
  CHECK(round_trip("42") == "42");
  CHECK(round_trip(R"("x")") == R"("x")");
  CHECK(round_trip("null") == "null");
  CHECK(round_trip("true") == "true");
  CHECK(round_trip("false") == "false");
  CHECK(round_trip(" -1.5 ") == "-1.5");
  CHECK(round_trip("123456789012345678901234567890") == "123456789012345678901234567890");
}

TEST_CASE("Unicode text passes through as UTF-8, escapes resolved") {
  CHECK(round_trip("\"héllo wörld 日本語 😀\"") == "\"héllo wörld 日本語 😀\"");
  CHECK(round_trip(R"("\u00e9\u65e5\ud83d\ude00")") == "\"é日😀\"");
  CHECK(round_trip(R"("\uD83D\uDE00")") == "\"😀\"");
  // U+2028/U+2029 are legal raw in JSON: written as their UTF-8 bytes.
  CHECK(round_trip(R"("a\u2028b\u2029c")") ==
        "\"a\xe2\x80\xa8"
        "b\xe2\x80\xa9"
        "c\"");
  CHECK(round_trip(R"("\"\\\/")") == R"("\"\\/")");
  CHECK(round_trip(R"({"k\u00e9y\n":"v"})") == "{\"k\xc3\xa9y\\n\":\"v\"}");
}

TEST_CASE("\\u0000 inside a string is kept and written back escaped") {
  std::optional<std::string> m = to_msgpack(R"("a\u0000b")");
  REQUIRE(m);
  CHECK(*m == bytes({0xa3, 'a', 0, 'b'}));
  CHECK(round_trip(R"("a\u0000b")") == R"("a\u0000b")");
}

TEST_CASE("every control character is written back escaped, short forms where JSON has them") {
  std::string in = "\"", expected = "\"";
  for (int c = 0; c < 0x20; ++c) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\u%04x", c);
    in += hex;
    switch (c) {
      case '\b': expected += "\\b"; break;
      case '\t': expected += "\\t"; break;
      case '\n': expected += "\\n"; break;
      case '\f': expected += "\\f"; break;
      case '\r': expected += "\\r"; break;
      default: expected += hex;
    }
  }
  in += "\"";
  expected += "\"";
  CHECK(round_trip(in) == expected);
  CHECK(round_trip(R"("\u007f")") == "\"\x7f\"");  // DEL is not a control char in JSON
}

TEST_CASE("an escape, a multi-byte character or a bad byte is found at every place of a string") {
  // Strings are scanned eight bytes at a time: each kind of byte that ends a plain
  // run, at every place of strings of 1 to 24 bytes, in values and in keys.
  struct Kind {
    std::string in, out;  // the bytes put in, and how they come back (empty: refused)
  };
  const std::vector<Kind> kinds = {{"\\/", "/"},
                                   {"\\\"", "\\\""},
                                   {"\\n", "\\n"},
                                   {"\xc3\xa9", "\xc3\xa9"},
                                   {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
                                   {"\x01", ""},
                                   {"\xff", ""},
                                   {"\x7f", "\x7f"}};
  for (const Kind& k : kinds)
    for (size_t len = 1; len <= 24; ++len)
      for (size_t at = 0; at < len; ++at) {
        std::string before(at, 'a'), after(len - at - 1, 'b');
        std::string in = before + k.in + after, out = before + k.out + after;
        CAPTURE(in);
        for (bool key : {false, true}) {
          std::string json = key ? "{\"" + in + "\":1}" : "\"" + in + "\"";
          std::string want = key ? "{\"" + out + "\":1}" : "\"" + out + "\"";
          if (k.out.empty()) {
            CHECK_FALSE(to_msgpack(json).has_value());
          } else {
            CHECK(round_trip(json) == want);
          }
        }
      }
}

TEST_CASE("a 1 MB string round trips") {
  std::string s(1 << 20, 'x');
  for (size_t i = 0; i < s.size(); i += 4093) s[i] = char('a' + i % 26);
  std::string json = "\"" + s + "\"";
  CHECK(round_trip(json) == json);
  std::string escaped = "[\"" + s + "\\n\"]";
  CHECK(round_trip(escaped) == escaped);
}

TEST_CASE("containers of 16, 65535 and 65536 elements get the longer headers") {
  std::string a16 = "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]";
  std::optional<std::string> m = to_msgpack(a16);
  REQUIRE(m);
  CHECK(m->substr(0, 4) == bytes({0xdc, 0x00, 0x10, 0x00}));
  CHECK(round_trip(a16) == a16);
  for (size_t n : {size_t(65535), size_t(65536)}) {
    std::string obj = "{";
    for (size_t i = 0; i < n; ++i)
      obj += (i ? ",\"" : "\"") + std::to_string(i) + "\":[" + std::to_string(i) + "]";
    obj += "}";
    m = to_msgpack(obj);
    REQUIRE(m);
    CHECK(uint8_t((*m)[0]) == (n == 65535 ? 0xde : 0xdf));
    CHECK(round_trip(obj) == obj);
  }
}

TEST_CASE("nesting of 1000 levels is accepted and 1001 rejected, both ways") {
  for (char open : {'[', '{'}) {
    char close = open == '[' ? ']' : '}';
    std::string ok = nested(1000, open, close);
    CHECK(round_trip(ok) == ok);
    std::string error;
    CHECK_FALSE(to_msgpack(nested(1001, open, close), &error));
    CHECK(error == "invalid JSON: nested deeper than 1000 levels");
    CHECK_FALSE(to_msgpack(nested(100000, open, close), &error));
    CHECK(error == "invalid JSON: nested deeper than 1000 levels");
  }
  // MessagePack nested 1001 deep is refused by msgpack_to_json, skipped by msgpack_skip.
  std::string deep(1000, char(0x91));
  deep += char(0x90);
  CHECK_FALSE(to_json(deep).has_value());
  const char* p = deep.data();
  CHECK(msgpack_skip(&p, deep.data() + deep.size()));
  CHECK(p == deep.data() + deep.size());
  CHECK(to_json(deep.substr(1)) == nested(1000, '[', ']'));
}

// ---- numbers ---------------------------------------------------------------------------

TEST_CASE("integers take the smallest MessagePack int that holds them") {
  CHECK(to_msgpack("0") == bytes({0x00}));
  CHECK(to_msgpack("127") == bytes({0x7f}));
  CHECK(to_msgpack("128") == bytes({0xcc, 0x80}));
  CHECK(to_msgpack("65536") == bytes({0xce, 0x00, 0x01, 0x00, 0x00}));
  CHECK(to_msgpack("-1") == bytes({0xff}));
  CHECK(to_msgpack("-32") == bytes({0xe0}));
  CHECK(to_msgpack("-33") == bytes({0xd0, 0xdf}));
  CHECK(to_msgpack("-129") == bytes({0xd1, 0xff, 0x7f}));
  CHECK(to_msgpack("9223372036854775807") ==
        bytes({0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  CHECK(to_msgpack("-9223372036854775808") ==
        bytes({0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
  CHECK(to_msgpack("18446744073709551615") ==
        bytes({0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST_CASE("integers of 1 to 20 digits round trip, as ints while int64 or uint64 holds them") {
  // Up to 18 digits a number is read in one pass; longer ones the general way.
  for (size_t k = 1; k <= 20; ++k)
    for (char first : {'9', '1'})
      for (bool negative : {false, true}) {
        std::string n;
        if (negative) n += '-';
        n += first;
        n.append(k - 1, first == '9' ? '9' : '0');
        std::string in_array = "[";
        in_array += n;
        in_array += ']';
        CAPTURE(n);
        CHECK(round_trip(n) == n);
        CHECK(round_trip(in_array) == in_array);
        std::optional<std::string> m = to_msgpack(in_array);
        REQUIRE(m);
        uint8_t tag = uint8_t((*m)[1]);
        bool is_ext = (tag >= 0xd4 && tag <= 0xd8) || (tag >= 0xc7 && tag <= 0xc9);
        unsigned __int128 v = 0;
        for (char c : std::string_view(n).substr(negative)) v = v * 10 + unsigned(c - '0');
        bool fits = negative ? v <= (unsigned __int128)1 << 63 : v <= UINT64_MAX;
        CHECK(is_ext == !fits);
      }
}

TEST_CASE("64-bit integer limits round trip exactly") {
  for (const char* n : {"9223372036854775807", "-9223372036854775808", "18446744073709551615",
                        "9223372036854775808", "-9223372036854775807", "1764000000123"})
    CHECK(round_trip(n) == n);
}

TEST_CASE("write_decimal prints what std::to_chars prints, for every width of number") {
  auto check = [](auto v) {
    char want[32], got[40];
    char* end = std::to_chars(want, want + sizeof want, v).ptr;
    std::memset(got, 'x', sizeof got);
    char* w = json_detail::write_decimal(got, v);
    REQUIRE(std::string_view(got, size_t(w - got)) == std::string_view(want, size_t(end - want)));
    // Whole words are stored, at most 24 bytes from the start (the room it asks for).
    CHECK(got[25] == 'x');
  };
  for (uint64_t v = 0; v < 200000; ++v) check(v);
  uint64_t p = 1;
  for (int e = 0; e <= 19; ++e, p *= 10)
    for (uint64_t v : {p - 1, p, p + 1, 2 * p - 1, 9 * p, p * 10 - 1}) {
      check(v);
      check(int64_t(v));
      check(-int64_t(v >> 1));
    }
  check(UINT64_MAX);
  check(INT64_MAX);
  check(INT64_MIN);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    check(v);
    check(int64_t(v));
  }
}

TEST_CASE("integers beyond 64 bits are kept as their text in ext kJsonNumberExt") {
  std::string two64 = "18446744073709551616";
  std::string ext = bytes({0xc7, 20, kJsonNumberExt}) + two64;
  CHECK(to_msgpack(two64) == ext);
  CHECK(to_msgpack("[" + two64 + "]") == "\x91" + ext);
  for (const char* n : {"18446744073709551616", "-9223372036854775809",
                        "123456789012345678901234567890123456789012345678901234567890"})
    CHECK(round_trip(std::string("[") + n + ",1]") == std::string("[") + n + ",1]");
  std::string huge(5000, '7');  // beyond simdjson's 1082-character root limit too
  CHECK(round_trip(huge) == huge);
  CHECK(round_trip("[" + huge + "]") == "[" + huge + "]");
}

TEST_CASE("numbers with a fraction or exponent become float64 and print shortest") {
  CHECK(to_msgpack("1.0") == bytes({0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));
  CHECK(round_trip("1.0") == "1.0");
  CHECK(round_trip("0.1") == "0.1");
  CHECK(round_trip("-2.5") == "-2.5");
  CHECK(round_trip("1.50") == "1.5");
  CHECK(round_trip("1E+2") == "100.0");
  CHECK(round_trip("1e2") == "100.0");
  CHECK(round_trip("0e0") == "0.0");
  CHECK(round_trip("-0.0") == "-0.0");
  CHECK(round_trip("1e308") == "1e+308");
  CHECK(round_trip("1.7976931348623157e308") == "1.7976931348623157e+308");
  CHECK(round_trip("1e-320") == "1e-320");    // subnormal
  CHECK(round_trip("5e-324") == "5e-324");    // the smallest subnormal
  CHECK(round_trip("2.5e-324") == "5e-324");  // rounds to the smallest subnormal
  CHECK(round_trip("0.30000000000000004") == "0.30000000000000004");
  CHECK(round_trip("12345678901234567890.0") == "1.2345678901234567e+19");
  // 20 and more significant digits (simdjson 3.0.1's get_number() returns 0 for these)
  CHECK(round_trip("3.1415926535897932384626433832795028841971693993751") == "3.141592653589793");
  CHECK(round_trip("[1.00000000000000000000000000001]") == "[1.0]");
  CHECK(round_trip("123456789012345678901234567890e-10") == "1.2345678901234567e+19");
}

TEST_CASE("numbers a double cannot hold keep their text: 1e400, 1e-400 and -0") {
  CHECK(to_msgpack("1e400") == bytes({0xc7, 5, kJsonNumberExt, '1', 'e', '4', '0', '0'}));
  CHECK(round_trip("1e400") == "1e400");
  CHECK(round_trip("-1E+400") == "-1E+400");
  CHECK(round_trip("[1e400,2]") == "[1e400,2]");
  CHECK(round_trip("1e-400") == "1e-400");  // nonzero: not written as 0.0
  CHECK(to_msgpack("-0") == bytes({0xd5, kJsonNumberExt, '-', '0'}));
  CHECK(round_trip("-0") == "-0");
  CHECK(round_trip("[-0, 0]") == "[-0,0]");
}

// ---- invalid lines ---------------------------------------------------------------------

TEST_CASE("every kind of invalid line is rejected with a short reason") {
  struct Case {
    std::string json;
    std::string error;
  };
  const std::string structure =
      "invalid JSON: unexpected character, or a missing or extra comma, colon or bracket";
  const std::string unclosed = "invalid JSON: unclosed object or array, or characters after it";
  const std::string word = "invalid JSON: unknown word (not true, false or null)";
  const std::string number = "invalid JSON: malformed number";
  const std::string trailing = "trailing characters after the JSON value";
  const std::string escape = "invalid JSON: bad escape in string";
  const std::string control = "invalid JSON: control character in string";
  const Case cases[] = {
      {"", "invalid JSON: empty line"},
      {"  \t ", "invalid JSON: empty line"},
      {R"({"a":1)", unclosed},
      {R"([1,2)", unclosed},
      {R"({"a":)", unclosed},
      {R"("abc)", "invalid JSON: unclosed string"},
      {R"({"a":"b)", "invalid JSON: unclosed string"},
      {"[1,]", structure},
      {R"({"a":1,})", structure},
      {"[1,,2]", structure},
      {"{,}", structure},
      {"['a']", structure},
      {"{a:1}", structure},
      {R"({"a" 1})", structure},
      // A key that is bad and has no colon after it: the colon is the fault, but a
      // control character or an unclosed string is found first.
      {R"({"a\q" 1})", structure},
      {"{\"a\x01\" 1}", control},
      {R"({"a\q":1})", escape},
      {"{\"a\x01\":1}", control},
      {R"({"a)", "invalid JSON: unclosed string"},
      {R"({"a":})", structure},
      {"[1 2]", structure},
      {"[true false]", structure},
      {"]", structure},
      {"// comment", structure},
      {"\xef\xbb\xbf{}", structure},  // a byte order mark is not JSON
      {"NaN", structure},
      {"[NaN]", structure},
      {"Infinity", structure},
      {"-Infinity", number},
      {"01", number},
      {"[01]", number},
      {"-01", number},
      {"1.", number},
      {"1.e5", number},
      {"1e", number},
      {"-", number},
      {"0x10", number},
      {"1x", number},
      {".5", structure},
      {"+1", structure},
      {"nul", word},
      {"nullx", word},
      {"tru", word},
      {"truex", word},
      {"falsey", word},
      {"[falsey]", word},
      {R"({"a":nulll})", word},
      {R"("\x")", escape},
      {R"("\u12")", escape},
      {R"("\u12g4")", escape},
      // Lone surrogates are rejected, as simdjson 3.0.1 does.
      {R"("\ud800")", escape},
      {R"("\udc00")", escape},
      {R"(["\ud83d"])", escape},
      {R"("\ud800\u0041")", escape},
      {"\"\xff\"", "invalid UTF-8"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},          // overlong '/'
      {"\"\xe0\x80\xaf\"", "invalid UTF-8"},      // overlong, 3 bytes
      {"\"\xed\xa0\x80\"", "invalid UTF-8"},      // an encoded surrogate
      {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},  // beyond U+10FFFF
      {"\"\xe2\x82\"", "invalid UTF-8"},          // truncated sequence
      {"{\"\x80\":1}", "invalid UTF-8"},
      {"\"a\tb\"", control},
      {"\"a\nb\"", control},
      {"\"\x1f\"", control},
      {std::string("\"\0\"", 3), control},
      {"{} {}", trailing},
      {"1 2", trailing},
      {R"("a" "b")", trailing},
      {R"("abc"x)", trailing},
      {"[1] [2]", trailing},
      {"null null", trailing},
      {"[1]]", trailing},
      // (simdjson said "unclosed" here only when the byte after the line was '}', as
      // this test's padding is; after a line that pspf reads there is a newline.)
      {"{}}", trailing},
      {"[1] x", unclosed},
      {R"({"a":1}x)", unclosed},
  };
  for (const Case& c : cases) {
    INFO("line: " << c.json);
    std::string error;
    CHECK_FALSE(to_msgpack(c.json, &error).has_value());
    CHECK(error == c.error);
  }
}

TEST_CASE("the bytes after the line do not matter") {
  JsonToMsgpack codec;
  for (char junk : {'\0', ' ', '"', '\\', ']', '1', 'x', '\xff'}) {
    std::string b = "[1,\"a\",{\"b\":true}]" + std::string(kJsonPadding, junk);
    Buffer out;
    REQUIRE(codec.convert(std::string_view(b.data(), b.size() - kJsonPadding), out, {}));
    CHECK(to_json(out.view()) == "[1,\"a\",{\"b\":true}]");
  }
  std::string b = "12" + std::string(kJsonPadding, '3');  // a root number next to digits
  Buffer out;
  REQUIRE(codec.convert(std::string_view(b.data(), 2), out, {}));
  CHECK(out.view() == bytes({12}));
}

// ---- captures --------------------------------------------------------------------------

TEST_CASE("captures pick nested fields, strings unescaped and numbers as written") {
  FieldCapture caps[6];
  caps[0].path = "item.id";
  caps[1].path = "event_id";
  caps[2].path = "item.qty";
  caps[3].path = "ok";
  caps[4].path = "big";
  caps[5].path = "item.price";
  std::string error;
  REQUIRE(to_msgpack(R"({"event_id":"e\"1\u00e9","item":{"qty":1.50,"id":"item-42",)"
                     R"("price":-0},"ok":false,"big":123456789012345678901234567890})",
                     &error, caps));
  CHECK(caps[0].found);
  CHECK(caps[0].text == "item-42");
  CHECK(caps[1].found);
  CHECK(caps[1].text == "e\"1\xc3\xa9");
  CHECK(caps[2].found);
  CHECK(caps[2].text == "1.50");
  CHECK(caps[3].found);
  CHECK(caps[3].text == "false");
  CHECK(caps[4].found);
  CHECK(caps[4].text == "123456789012345678901234567890");
  CHECK(caps[5].found);
  CHECK(caps[5].text == "-0");
}

TEST_CASE("a missing or null field is not found") {
  FieldCapture caps[6];
  caps[0].path = "missing";
  caps[1].path = "item.missing";
  caps[2].path = "name.first";  // "name" is a string, not an object
  caps[3].path = "n";
  caps[4].path = "list.id";  // arrays are not looked into
  caps[5].path = "";         // captures nothing
  caps[0].found = caps[5].found = true;
  REQUIRE(to_msgpack(R"({"item":{"id":1},"name":"x","n":null,"list":[{"id":2}]})", nullptr, caps));
  for (const FieldCapture& c : caps) CHECK_FALSE(c.found);
}

TEST_CASE("the last of duplicate keys decides a capture") {
  FieldCapture caps[2];
  caps[0].path = "k";
  caps[1].path = "a.b";
  REQUIRE(to_msgpack(R"({"k":"first","k":"second","a":{"b":1},"a":{"c":2}})", nullptr, caps));
  CHECK(caps[0].found);
  CHECK(caps[0].text == "second");
  CHECK(caps[1].found);  // a.b was seen; the second "a" has no "b" to override it
  CHECK(caps[1].text == "1");
  REQUIRE(to_msgpack(R"({"k":"v","k":null})", nullptr, caps));
  CHECK_FALSE(caps[0].found);
}

TEST_CASE("a captured object or array is an error") {
  FieldCapture caps[1];
  caps[0].path = "item.id";
  std::string error;
  CHECK_FALSE(to_msgpack(R"({"item":{"id":{"x":1}}})", &error, caps));
  CHECK(error == "key field item.id is an object");
  CHECK_FALSE(caps[0].found);
  CHECK_FALSE(to_msgpack(R"({"item":{"id":[1]}})", &error, caps));
  CHECK(error == "key field item.id is an array");
  caps[0].path = "item";
  CHECK_FALSE(to_msgpack(R"({"item":{"id":"x"}})", &error, caps));
  CHECK(error == "key field item is an object");
}

TEST_CASE("capture paths match unescaped keys; a key with a dot needs '\\.'") {
  FieldCapture caps[4];
  caps[0].path = "id";
  caps[1].path = R"(a\.b)";
  caps[2].path = "a.b";
  caps[3].path = R"(c\\d.e)";
  // Member order must not matter: the literal member first, then the nested one.
  REQUIRE(
      to_msgpack(R"({"i\u0064":5,"a.b":true,"a":{"b":"nested"},"c\\d":{"e":1}})", nullptr, caps));
  CHECK(caps[0].found);
  CHECK(caps[0].text == "5");
  CHECK(caps[1].found);
  CHECK(caps[1].text == "true");
  CHECK(caps[2].found);
  CHECK(caps[2].text == "nested");
  CHECK(caps[3].found);
  CHECK(caps[3].text == "1");
  REQUIRE(to_msgpack(R"({"a":{"b":"nested"},"a.b":true})", nullptr, caps));
  CHECK(caps[1].text == "true");
  CHECK(caps[2].text == "nested");
  // A backslash before anything else matches nothing.
  caps[1].path = R"(a\b)";
  REQUIRE(to_msgpack(R"({"ab":1,"a\\b":2})", nullptr, caps));
  CHECK_FALSE(caps[1].found);
}

TEST_CASE("an id capture's errors name the id field") {
  FieldCapture caps[1];
  caps[0].path = "order_id";
  caps[0].what = "id field";
  std::string error;
  CHECK_FALSE(to_msgpack(R"({"order_id":{"a":1}})", &error, caps));
  CHECK(error == "id field order_id is an object");
}

TEST_CASE("a capture's path changed between calls is followed, even in place") {
  FieldCapture caps[2];
  std::string path = "a.b";  // a path is a view: of this string
  caps[0].path = path;
  caps[1].path = "x";
  std::string_view line = R"({"a":{"b":1,"c":2,"b.c":3},"x":4,"y":{"":5}})";
  REQUIRE(to_msgpack(line, nullptr, caps));
  CHECK(caps[0].text == "1");
  path[2] = 'c';  // the same bytes changed, the same length: "a.c"
  REQUIRE(to_msgpack(line, nullptr, caps));
  CHECK(caps[0].text == "2");
  caps[0].path = R"(a.b\.c)";
  REQUIRE(to_msgpack(line, nullptr, caps));
  CHECK(caps[0].text == "3");
  caps[0].path = "y.";  // an empty last segment: the member named ""
  caps[1].path = "";    // no path: nothing is captured
  REQUIRE(to_msgpack(line, nullptr, caps));
  CHECK(caps[0].text == "5");
  CHECK_FALSE(caps[1].found);
}

TEST_CASE("captures are reset on every call, and a failed line leaves none found") {
  FieldCapture caps[1];
  caps[0].path = "id";
  REQUIRE(to_msgpack(R"({"id":"x"})", nullptr, caps));
  CHECK(caps[0].found);
  REQUIRE(to_msgpack(R"({"other":"x"})", nullptr, caps));
  CHECK_FALSE(caps[0].found);
  REQUIRE(to_msgpack(R"({"id":"x"})", nullptr, caps));
  CHECK_FALSE(to_msgpack(R"({"id":"x",})", nullptr, caps));
  CHECK_FALSE(caps[0].found);
  REQUIRE(to_msgpack(R"("id")", nullptr, caps));  // a scalar line has no fields
  CHECK_FALSE(caps[0].found);
}

// ---- MessagePack -> JSON ---------------------------------------------------------------

TEST_CASE("msgpack_to_json writes every MessagePack type") {
  CHECK(to_json(bytes({0xc0})) == "null");
  CHECK(to_json(bytes({0xc3})) == "true");
  CHECK(to_json(bytes({0xc2})) == "false");
  CHECK(to_json(bytes({0xcc, 0xff})) == "255");
  CHECK(to_json(bytes({0xcd, 0x01, 0x00})) == "256");
  CHECK(to_json(bytes({0xd0, 0x80})) == "-128");
  CHECK(to_json(bytes({0xd1, 0x80, 0x00})) == "-32768");
  CHECK(to_json(bytes({0xd2, 0xff, 0xff, 0xff, 0xfe})) == "-2");
  CHECK(to_json(bytes({0xca, 0x3f, 0xc0, 0x00, 0x00})) == "1.5");  // float32
  CHECK(to_json(bytes({0xca, 0x3d, 0xcc, 0xcc, 0xcd})) == "0.1");  // float32 0.1f
  CHECK(to_json(bytes({0xca, 0x40, 0x00, 0x00, 0x00})) == "2.0");
  CHECK(to_json(bytes({0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0})) == "null");    // NaN
  CHECK(to_json(bytes({0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0})) == "null");    // inf
  CHECK(to_json(bytes({0xca, 0xff, 0x80, 0x00, 0x00})) == "null");          // -inf float32
  CHECK(to_json(bytes({0xc4, 0x03, 'a', '"', 0x01})) == R"("a\"\u0001")");  // bin
  CHECK(to_json(bytes({0xd9, 0x01, 'x'})) == R"("x")");
  CHECK(to_json(bytes({0xda, 0x00, 0x01, 'x'})) == R"("x")");
  CHECK(to_json(bytes({0xdb, 0x00, 0x00, 0x00, 0x01, 'x'})) == R"("x")");
  CHECK(to_json(bytes({0xdc, 0x00, 0x02, 0x01, 0x02})) == "[1,2]");
  CHECK(to_json(bytes({0xdd, 0x00, 0x00, 0x00, 0x00})) == "[]");
  CHECK(to_json(bytes({0xde, 0x00, 0x01, 0xa1, 'a', 0x90})) == R"({"a":[]})");
  CHECK(to_json(bytes({0xdf, 0x00, 0x00, 0x00, 0x00})) == "{}");
  CHECK(to_json(bytes({0xd4, kJsonNumberExt, '7'})) == "7");
  CHECK(to_json(bytes({0xd6, kJsonNumberExt, '1', 'e', '9', '9'})) == "1e99");
}

TEST_CASE("map keys that are not strings are written as their JSON text in quotes") {
  // {1:"a", nil:true, [1,"x"]:2, {"k":-1}:3, 1.5:4}
  std::string m =
      bytes({0x85, 0x01, 0xa1, 'a',  0xc0, 0xc3, 0x92, 0x01, 0xa1, 'x', 0x02, 0x81, 0xa1,
             'k',  0xff, 0x03, 0xcb, 0x3f, 0xf8, 0,    0,    0,    0,   0,    0,    0x04});
  CHECK(to_json(m) == R"({"1":"a","null":true,"[1,\"x\"]":2,"{\"k\":-1}":3,"1.5":4})");
  // a map key that is a map with a non-string key: quoted twice over
  std::string mm = bytes({0x81, 0x81, 0x01, 0x02, 0x03});
  CHECK(to_json(mm) == R"({"{\"1\":2}":3})");
}

TEST_CASE("msgpack_to_json stops right after one value") {
  std::string two = bytes({0x92, 0x01, 0xa1, 'a', 0xc3});
  const char* p = two.data();
  Buffer out;
  REQUIRE(msgpack_to_json(&p, two.data() + two.size(), out));
  CHECK(out.view() == R"([1,"a"])");
  CHECK(p == two.data() + 4);
}

TEST_CASE("bytes that are not one JSON-expressible value are refused") {
  CHECK_FALSE(to_json(""));
  CHECK_FALSE(to_json(bytes({0xc1})));                            // never used
  CHECK_FALSE(to_json(bytes({0xd4, 0x05, '7'})));                 // another ext type
  CHECK_FALSE(to_json(bytes({0xd5, kJsonNumberExt, '1', 'x'})));  // ext text not a number
  CHECK_FALSE(to_json(bytes({0xd5, kJsonNumberExt, '0', '1'})));
  CHECK_FALSE(to_json(bytes({0xc7, 0x00, kJsonNumberExt})));          // empty ext text
  CHECK_FALSE(to_json(bytes({0xdb, 0xff, 0xff, 0xff, 0xff, 'x'})));   // length past the end
  CHECK_FALSE(to_json(bytes({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01})));  // count past the end
  CHECK_FALSE(to_json(bytes({0x81, 0xa1, 'a'})));                     // key without value
}

TEST_CASE("truncated MessagePack is refused at every length, by both functions") {
  std::vector<std::string> values = {
      *to_msgpack(R"({"event_id":"e-000123","item":{"id":"item-42","qty":3},"ts":1764000000123,)"
                  R"("f":-2.5,"big":123456789012345678901234567890,"n":null,"t":[true,false],)"
                  R"("s":"a\"\n\u00e9 long enough to need a str8 header....."})"),
      bytes({0x82, 0x01, 0xca, 0x3f, 0xc0, 0x00, 0x00, 0x92, 0xc4, 0x02, 'a', 'b', 0xc0, 0xd2, 0xff,
             0xff, 0xff, 0xfe}),
      *to_msgpack(nested(50, '[', ']', "\"x\"")),
      *to_msgpack("[" + std::string(300, '1') + ",1e400,-9223372036854775808]"),
  };
  for (const std::string& full : values) {
    REQUIRE(to_json(full).has_value());
    for (size_t len = 0; len < full.size(); ++len) {
      INFO("length " << len << " of " << full.size());
      std::unique_ptr<char[]> exact(new char[len + 1]);  // ASan: no slack to read
      std::memcpy(exact.get(), full.data(), len);
      const char* p = exact.get();
      Buffer out;
      CHECK_FALSE(msgpack_to_json(&p, exact.get() + len, out));
      CHECK(out.size() == 0);
      p = exact.get();
      CHECK_FALSE(msgpack_skip(&p, exact.get() + len));
      CHECK(p == exact.get());
    }
  }
}

TEST_CASE("random and damaged bytes never crash the decoders") {
  std::mt19937 rng(20251124);
  std::string base =
      *to_msgpack(R"({"a":[1,-2,3.5,"x",null,true,{"b":"c"}],"d":18446744073709551615,"e":1e400})");
  for (int round = 0; round < 20000; ++round) {
    std::string b = base;
    if (round % 2) {
      b.resize(rng() % 64);
      for (char& c : b) c = char(rng());
    } else {
      for (int flips = 1 + rng() % 3; flips; --flips) b[rng() % b.size()] = char(rng());
      b.resize(rng() % (b.size() + 1));
    }
    std::unique_ptr<char[]> exact(new char[b.size() + 1]);
    std::memcpy(exact.get(), b.data(), b.size());
    const char* end = exact.get() + b.size();
    const char* p = exact.get();
    Buffer out;
    bool ok = msgpack_to_json(&p, end, out);
    CHECK(p <= end);
    const char* q = exact.get();
    bool skipped = msgpack_skip(&q, end);
    if (ok) CHECK((skipped && q == p));  // skip agrees wherever to_json succeeds
  }
}

// ---- the fast path against the general writer -------------------------------------------

// Random MessagePack values in every header form, as a writer other than pspf might
// choose them (a str32 for a short string, an int64 for a small number), with the
// kinds the fast path leaves to the general writer mixed in: ext, keys that are not
// strings, nesting past its depth, 32-bit lengths.
struct RandomMsgpack {
  std::mt19937& rng;
  std::string out;

  unsigned pick(unsigned n) { return unsigned(rng() % n); }
  void be(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out += char(v >> (8 * i));
  }
  void header(uint64_t n, uint8_t fix, uint8_t fix_limit, uint8_t b8, uint8_t b16, uint8_t b32) {
    unsigned form = pick(4);
    if (form == 0 && n < fix_limit && fix) return void(out += char(fix | n));
    if (form <= 1 && n < 256 && b8) return out += char(b8), be(n, 1);
    if (form <= 2 && n < 65536) return out += char(b16), be(n, 2);
    out += char(b32), be(n, 4);
  }
  std::string text() {
    static const char kBytes[] = "ab\"\\\n\x01\x1f\x7f/\xc3\xa9 z0";
    std::string t;
    unsigned n = pick(8) == 0 ? 16 + pick(40) : pick(18);
    for (unsigned i = 0; i < n; ++i)
      t += pick(4) ? char('a' + pick(26)) : kBytes[pick(sizeof kBytes - 1)];
    return t;
  }
  void string() {
    std::string t = text();
    if (pick(5) == 0)
      header(t.size(), 0, 0, 0xc4, 0xc5, 0xc6);  // bin
    else
      header(t.size(), 0xa0, 32, 0xd9, 0xda, 0xdb);
    out += t;
  }
  void number() {
    uint64_t v = rng() | uint64_t(rng()) << 32;
    switch (pick(12)) {
      case 0: out += char(v & 0x7f); break;
      case 1: out += char(0xe0 | (v & 0x1f)); break;
      case 2:
      case 3:
      case 4:
      case 5: {
        int w = pick(4);
        out += char(0xcc + w), be(v, 1 << w);
        break;
      }
      case 6:
      case 7:
      case 8: {
        int w = pick(4);
        out += char(0xd0 + w), be(v, 1 << w);
        break;
      }
      case 9: {
        static const float kF[] = {0.5f, -3.0f, 1e-40f, 3.4e38f, INFINITY, NAN, 7.0f};
        float f = pick(2) ? kF[pick(7)] : float(int32_t(v)) / 1000;
        out += char(0xca), be(std::bit_cast<uint32_t>(f), 4);
        break;
      }
      case 10: {
        static const double kD[] = {0.1, -2.0, 1e300, 5e-324, -0.0, INFINITY, NAN, 1e16};
        double d = pick(2) ? kD[pick(8)] : double(int64_t(v)) / 7;
        out += char(0xcb), be(std::bit_cast<uint64_t>(d), 8);
        break;
      }
      default: {  // a number kept as text
        std::string t = pick(2) ? "123456789012345678901234567890" : "1e400";
        out += char(0xc7), be(t.size(), 1), out += char(kJsonNumberExt), out += t;
      }
    }
  }
  void value(int depth) {
    unsigned kind = depth > 45 ? pick(4) : pick(depth < 3 ? 9 : 12);
    if (kind == 0) return void(out += char(0xc0 + (pick(3) == 0 ? 0 : 2 + pick(2))));
    if (kind == 1 || kind == 4) return string();
    if (kind == 2 || kind == 3) return number();
    if (kind >= 9) return value(depth + 1);  // a run of deep single-element nesting
    unsigned n = pick(7) == 0 ? 0 : 1 + pick(6);
    if (kind >= 7 || depth > 30) n = 1;  // deep nesting: one element at a time
    bool map = pick(2);
    if (map)
      header(n, 0x80, 16, 0, 0xde, 0xdf);
    else
      header(n, 0x90, 16, 0, 0xdc, 0xdd);
    for (unsigned i = 0; i < n; ++i) {
      if (map) {
        if (pick(10) == 0)
          value(depth + 1);  // a key that is not a string
        else
          string();
      }
      value(depth + 1);
    }
  }
};

// Both writers on the same bytes, in an allocation of exactly their size (so that
// AddressSanitizer sees any read past the end), after the same prefix.
bool check_same_as_general(const std::string& bytes) {
  std::unique_ptr<char[]> exact(new char[bytes.size() + 1]);
  std::memcpy(exact.get(), bytes.data(), bytes.size());
  const char* end = exact.get() + bytes.size();
  const char* p1 = exact.get();
  const char* p2 = exact.get();
  Buffer fast, general;
  fast.append("prefix");
  general.append("prefix");
  bool ok1 = msgpack_to_json(&p1, end, fast);
  bool ok2 = detail::msgpack_to_json_general(&p2, end, general);
  REQUIRE(ok1 == ok2);
  CHECK(p1 - exact.get() == p2 - exact.get());
  CHECK(fast.view() == general.view());
  return ok1;
}

TEST_CASE("the fast path prints what the general writer prints, or refuses what it refuses") {
  std::mt19937 rng(20261202);
  size_t fast_kinds = 0, refused = 0;
  for (int round = 0; round < 30000; ++round) {
    RandomMsgpack g{rng, {}};
    g.value(0);
    std::string whole = g.out;
    CAPTURE(round);
    CHECK(check_same_as_general(whole));
    // The same value cut short and with bytes changed: both must refuse alike, or
    // print alike when the damage left a valid value.
    std::string cut = whole.substr(0, rng() % (whole.size() + 1));
    refused += !check_same_as_general(cut);
    std::string flipped = whole;
    for (int flips = 1 + int(rng() % 3); flips; --flips)
      flipped[rng() % flipped.size()] = char(rng());
    refused += !check_same_as_general(flipped);
    // Two values back to back: both stop after the first.
    check_same_as_general(whole + whole);
    if (whole.find_first_of("\xc7\xdb\xdd\xdf\xc6") == std::string::npos) ++fast_kinds;
  }
  // The generator covers both sides: values the fast path prints, values refused.
  CHECK(fast_kinds > 1000);
  CHECK(refused > 1000);
}

TEST_CASE("the fast path's room holds the values that print longest for their size") {
  // Per byte of MessagePack: a control character in a string prints 6 bytes, false
  // 5 and a comma; a map16 of them and one of nested empty maps.
  for (std::string item : {std::string("\xa1\x01"), std::string("\xc2"), std::string("\x80"),
                           std::string("\xa0"), std::string("\xd3\x80\0\0\0\0\0\0\0", 9)}) {
    for (uint16_t n : {1, 15, 16, 1000, 10000}) {
      std::string bytes = std::string("\xdc") + char(n >> 8) + char(n & 0xff);
      for (uint16_t i = 0; i < n; ++i) bytes += item;
      CAPTURE(n);
      check_same_as_general(bytes);
      auto json = to_json(bytes);
      REQUIRE(json);
      CHECK(json->size() <= 6 * bytes.size());
    }
  }
}

// ---- append_json_string ----------------------------------------------------------------

TEST_CASE("append_json_string escapes exactly '\"', '\\\\' and control characters") {
  Buffer out;
  append_json_string(std::string_view("a\"b\\c/d\x7f\xff\xc3\xa9\x00\x1f\b\f\n\r\t", 18), out);
  CHECK(out.view() == "\"a\\\"b\\\\c/d\x7f\xff\xc3\xa9\\u0000\\u001f\\b\\f\\n\\r\\t\"");
  out.clear();
  append_json_string("", out);
  CHECK(out.view() == "\"\"");
}

TEST_CASE("append_json_string finds an escape at any position of any short string") {
  // The fast path works a word at a time: try every length and escape position.
  for (size_t n = 0; n <= 40; ++n) {
    for (size_t at = 0; at <= n; ++at) {
      std::string s(n, 'x');
      std::string expected = "ab\"";  // built by appends: GCC 12 warns on "lit" + string
      expected.append(s.substr(0, at));
      if (at < n) {
        s[at] = '"';
        expected.append("\\\"").append(n - at - 1, 'x');
      }
      expected.append("\"");
      Buffer out;
      out.append("ab");
      append_json_string(s, out);
      INFO("length " << n << ", escape at " << at);
      CHECK(out.view() == expected);
    }
  }
}
