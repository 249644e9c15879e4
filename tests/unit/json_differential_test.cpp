// pspf::JsonToMsgpack against its oracle, the simdjson-based converter pspf used before
// (simdjson_reference.h): for every line both must accept or both refuse, write the
// same MessagePack bytes, fill the same captures (found, and text when found) and,
// when they refuse, give the same error() text. Lines come from a fixed corpus of
// tricky cases and from a seeded random generator of JSON values and of byte-level
// mutations of them. A mismatch is reported with the line escaped and both results.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "json_generator.h"
#include "pspf/json_codec.h"
#include "simdjson_reference.h"

using namespace pspf;
using pspf::test::JsonGenerator;
using pspf::test::Mutation;

namespace {

// ---- reporting -----------------------------------------------------------------------

// `s` as printable ASCII: other bytes (and the backslash) as \xNN, so that a failing
// line can be pasted back into a test. Long lines keep their head and tail.
std::string escaped(std::string_view s) {
  auto put = [](std::string& o, std::string_view part) {
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : part) {
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        o.push_back(char(c));
      } else {
        o += "\\x";
        o.push_back(hex[c >> 4]);
        o.push_back(hex[c & 15]);
      }
    }
  };
  std::string o;
  if (s.size() <= 1200) {
    put(o, s);
  } else {
    put(o, s.substr(0, 900));
    o += "<... " + std::to_string(s.size() - 1100) + " more bytes ...>";
    put(o, s.substr(s.size() - 200));
  }
  return o;
}

// MessagePack written by a converter, read back as JSON by the project's decoder, so
// that a report shows 1.0 against 1 rather than only their bytes.
std::string as_json(std::string_view msgpack) {
  if (msgpack.empty()) return "(nothing)";
  const char* p = msgpack.data();
  Buffer json;
  if (!msgpack_to_json(&p, msgpack.data() + msgpack.size(), json)) return "(not MessagePack)";
  return escaped(json.view());
}

// ---- the two converters side by side -------------------------------------------------

// One convert() call's outcome, in a form doctest can compare and print.
struct Outcome {
  bool ok = false;
  std::string bytes;     // the MessagePack written, or "" when refused
  std::string error;     // error() when refused
  std::string captures;  // "found:text" (or "absent") per capture, '|'-separated

  bool operator==(const Outcome&) const = default;
};

// The paths of one set of captures; `what` is varied to reach the error texts that
// name a capture.
struct CaptureSet {
  std::vector<std::string_view> paths;
  std::string_view what = "key field";
};

// Each category reports its first mismatch in full (and the corpus its first 20); the
// run stops after kMaxMismatches so that a broken converter gives short output.
constexpr int kMaxMismatches = 20;

class Differ {
 public:
  // Converts `line` with both converters and the captures `set`; returns true when they
  // agree. A line is followed by kJsonPadding bytes (the converters' precondition).
  // simdjson 3.0.1 reads them, and the reference's result depends on them (see "the
  // reference's result depends on the bytes after the line" below): it is taken after
  // spaces, where it behaves as if the line ended there, as in pspf-produce, where a
  // line is followed by its newline. JsonToMsgpack gets junk that looks like JSON, a
  // different byte from line to line, so that a scanner reading past the line is
  // caught. (The lines where the reference's result changes with that junk are
  // counted, for the report.)
  bool compare(std::string_view line, const CaptureSet& set, std::string_view category,
               int report_limit = 1) {
    static constexpr std::string_view kJunk("}]\"0\0x{[", 8);
    ++lines_;
    Outcome ref = run(ref_, pad(padded_ref_, line, ' '), set);
    char junk = kJunk[size_t(lines_) % kJunk.size()];
    std::string_view junk_padded = pad(padded_mine_, line, junk);
    bool same = run(ref_, junk_padded, set) == ref;
    if (!same) ++padding_dependent_;
    Outcome mine = run(mine_, junk_padded, set);
    if (mine.ok && ref.ok) ++accepted_;
    if (mine.captures.find("found:") != std::string::npos) ++captured_;
    if (mine == ref) return true;
    ++mismatches_;
    int& reported = reported_[std::string(category)];
    if (reported++ < report_limit) {
      std::string paths;
      for (std::string_view p : set.paths)
        paths += std::string(paths.empty() ? "" : ", ") + "\"" + escaped(p) + "\"";
      INFO("category: " << category);
      INFO("line (" << line.size() << " bytes): " << escaped(line));
      INFO("capture paths: [" << paths << "] what=\"" << set.what << "\"");
      size_t at =
          std::mismatch(mine.bytes.begin(), mine.bytes.end(), ref.bytes.begin(), ref.bytes.end())
              .first -
          mine.bytes.begin();
      INFO("output as JSON: JsonToMsgpack " << as_json(mine.bytes) << " ; reference "
                                            << as_json(ref.bytes));
      INFO("outputs first differ at byte " << at);
      CHECK(mine.ok == ref.ok);
      CHECK(escaped(mine.bytes) == escaped(ref.bytes));
      CHECK(mine.error == ref.error);
      CHECK(escaped(mine.captures) == escaped(ref.captures));
    }
    return false;
  }

  // Lines on which the reference's result depends on the padding.
  long padding_dependent() const { return padding_dependent_; }
  bool exhausted() const { return mismatches_ >= kMaxMismatches; }
  int mismatches() const { return mismatches_; }
  long lines() const { return lines_; }
  long accepted() const { return accepted_; }
  long captured() const { return captured_; }  // lines where a capture was found

 private:
  // `line` copied into `buffer` followed by kJsonPadding bytes `padding`.
  static std::string_view pad(std::string& buffer, std::string_view line, char padding) {
    buffer.assign(line);
    buffer.append(kJsonPadding, padding);
    return {buffer.data(), line.size()};
  }

  // Runs one converter (reused across calls, as the producer does) after "prefix" in
  // the output buffer, which it must leave as it was when it refuses the line.
  template <class Converter>
  Outcome run(Converter& c, std::string_view line, const CaptureSet& set) {
    Buffer out;
    out.append("prefix");
    size_t n = set.paths.size();
    caps_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      caps_[i].path = set.paths[i];
      caps_[i].what = set.what;
      caps_[i].text = "stale";  // as if left from an earlier line: a found one replaces it
    }
    Outcome o;
    o.ok = c.convert(line, out, std::span<FieldCapture>(caps_.data(), n));
    // Checked by hand, not with CHECK: a doctest assertion per line would cost more
    // than the conversions.
    if (out.view().substr(0, 6) != "prefix" || (!o.ok && out.size() != 6))
      FAIL_CHECK("a converter damaged the output before the line, or did not restore it: "
                 << escaped(line));
    if (o.ok)
      o.bytes = out.view().substr(6);
    else
      o.error = c.error();
    // The text of a capture not found is unspecified: only a found one's is compared.
    for (size_t i = 0; i < n; ++i)
      o.captures += (caps_[i].found ? "found:" + caps_[i].text : "absent") + "|";
    return o;
  }

  JsonToMsgpack mine_;
  test::SimdjsonToMsgpack ref_{true};  // corrected: see simdjson_reference.h
  std::string padded_mine_, padded_ref_;
  std::vector<FieldCapture> caps_;
  std::map<std::string, int> reported_;
  int mismatches_ = 0;
  long lines_ = 0, accepted_ = 0, captured_ = 0, padding_dependent_ = 0;
};

// ---- the fixed corpus ----------------------------------------------------------------

// The capture sets every corpus line is converted with: none; the escaped paths
// (a\.b names the key "a.b", a\\b the key "a\b") with another `what`; paths that hit
// objects and arrays; and paths that can never match (empty, bad escape, empty
// segment).
const std::vector<CaptureSet> kCorpusSets = {
    {},
    {{"id", "a.b", "a\\.b", "a\\\\b"}, "id field"},
    {{"a", "b"}},
    {{"", "a\\x", "a.", ".a", "a.b.c", "\\"}},
};

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(char(c));
  return s;
}

// `depth` levels of arrays (or objects under key "k", or both alternating) around
// `inner`.
std::string nested(int depth, std::string_view kind, std::string_view inner = "1") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += kind == "[" || (kind == "mixed" && i % 2) ? "[" : "{\"k\":";
  s += inner;
  for (int i = depth - 1; i >= 0; --i) s += kind == "[" || (kind == "mixed" && i % 2) ? "]" : "}";
  return s;
}

std::vector<std::string> corpus() {
  std::vector<std::string> c;
  // Numbers, each also inside an array and as the value of captured keys.
  const std::vector<std::string> numbers = {
      "0", "-0", "-0.0", "0.0", "1.0", "-1.0", "1e5", "1E+5", "1e-5", "1E5", "1e+5", "0e0", "0.0e5",
      "-0e-0", "0.5", "123.456e-7", "1e05", "1E-05", "9223372036854775807", "9223372036854775808",
      "9223372036854775806", "-9223372036854775808", "-9223372036854775809", "-9223372036854775807",
      "18446744073709551615", "18446744073709551616", "18446744073709551614",
      "-18446744073709551615", "123456789012345678901234567890", "-123456789012345678901234567890",
      "12345678901234567890.5", "1e308", "1e309", "-1e309", "1e-400", "-1e-400", "0e-400",
      "0.0e999", "5e-324", "4e-324", "2e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
      "2.2250738585072011e-308", "2.2250738585072014e-308", "1.7976931348623157e308",
      "1.7976931348623158e308", "1.7976931348623159e308", "0.1000000000000000055511151231257827",
      "0.1000000000000000055511151231257827021181583404541015625",
      // The reference misreads a number whose integer part is 0 and whose fraction has
      // more than 20 digits (see the test case on it below): a converter that reads
      // these right differs from it here.
      "0.12345678901234567890", "0.123456789012345678901", "-0.1000000000000000055511151231257827",
      "0.1000000000000000055511151231257827e1", "10.1000000000000000055511151231257827",
      "9007199254740993", "9007199254740993.0",
      "1.00000000000000011102230246251565404236316680908203125",
      "0.00000000000000000000000000000000000000000000000000000000001e59",
      "1" + std::string(99, '0'), "-1" + std::string(99, '0'), "1" + std::string(1099, '0'),
      "0." + std::string(1099, '1'), "1" + std::string(1080, '0'), "1" + std::string(1081, '0'),
      "1" + std::string(1082, '0'), "1." + std::string(1100, '5') + "e-3",
      // malformed
      "01", "-01", "00", "1.", "-", ".5", "-.5", "1e", "1e+", "1E-", "1.e5", "0x10", "1_000", "NaN",
      "Infinity", "-Infinity", "+1", "--1", "1.5.5", "1e5e5", "- 1", "1ee5", "2.", "1.0e", "0.e1",
      "-a", "1" + std::string(1099, '0') + "x"};
  for (const std::string& n : numbers) {
    c.push_back(n);
    c.push_back("[" + n + "]");
    c.push_back("[" + n + "," + n + "]");
    c.push_back("{\"id\":" + n + ",\"a\":{\"b\":" + n + "}}");
  }
  // Strings: escapes, \u forms, surrogates, control characters, UTF-8 of every length.
  const std::vector<std::string> strings = {R"("")",
                                            R"("\"\\\/\b\f\n\r\t")",
                                            bytes({'"', 'a', 0, 'b', '"'}),
                                            R"("\u0000")",
                                            R"("a\u0000b")",
                                            R"("\u00e9")",
                                            R"("\u00E9")",
                                            R"("\u65e5\u672c")",
                                            R"("\ud83d\ude00")",
                                            R"("\uD83D\uDE00")",
                                            R"("\udbff\udfff")",
                                            R"("\ud800")",
                                            R"("\ud800x")",
                                            R"("\ud800\u0041")",
                                            R"("\ud800\ud800")",
                                            R"("\udc00")",
                                            R"("\udc00\ud800")",
                                            R"("\ud83d\n")",
                                            R"("\ud83d\")",
                                            R"("\u00g0")",
                                            R"("\u12")",
                                            R"("\u")",
                                            R"("\uZZZZ")",
                                            R"("\u12345")",
                                            R"("\a")",
                                            R"("\x41")",
                                            R"("\U0041")",
                                            R"("\'")",
                                            R"("\0")",
                                            R"("\ ")",
                                            R"("\)",
                                            R"("abc)",
                                            R"("\u2028\u2029")",
                                            R"("\uffff\ufffe\ufeff")",
                                            "\"a\x01"
                                            "b\"",
                                            "\"\t\"",
                                            "\"a\nb\"",
                                            "\"\r\"",
                                            "\"\x1f\"",
                                            "\"\x7f\"",
                                            "\"\xc3\xa9\"",
                                            "\"\xe6\x97\xa5\"",
                                            "\"\xf0\x9f\x98\x80\"",
                                            "\"\xc3\"",
                                            "\"\xc3x\"",
                                            "\"\xe6\x97\"",
                                            "\"\xf0\x9f\x98\"",
                                            "\"\xc0\x80\"",
                                            "\"\xc1\xbf\"",
                                            "\"\xe0\x80\x80\"",
                                            "\"\xe0\x9f\xbf\"",
                                            "\"\xf0\x80\x80\x80\"",
                                            "\"\xf0\x8f\xbf\xbf\"",
                                            "\"\xf4\x8f\xbf\xbf\"",
                                            "\"\xf4\x90\x80\x80\"",
                                            "\"\xf5\x80\x80\x80\"",
                                            "\"\xf8\x88\x80\x80\x80\"",
                                            "\"\xff\"",
                                            "\"\xfe\"",
                                            "\"\xed\xa0\x80\"",
                                            "\"\xed\xbf\xbf\"",
                                            "\"\xed\xa0\xbd\xed\xb8\x80\"",
                                            "\"\xed\x9f\xbf\"",
                                            "\"\xee\x80\x80\"",
                                            "\"\x80\"",
                                            "\"\xbf\"",
                                            "\"\xef\xbb\xbf\"",
                                            "\"" + std::string(300, 'x') + "\\n\xc3\xa9\"",
                                            "\"" + std::string(70000, 'y') + "\""};
  for (const std::string& s : strings) {
    c.push_back(s);
    c.push_back("[" + s + "]");
    c.push_back("{\"id\":" + s + ",\"a\":" + s + "}");
    c.push_back("{" + s + ":1}");
  }
  // Words.
  for (const char* w : {"true", "false", "null", "truex", "nul", "nullx", "tru", "falsey", "TRUE",
                        "True", "fals", "t", "n", "f", "nulll", "true1", "null0", "falsefalse"}) {
    c.push_back(w);
    c.push_back(std::string("[") + w + "]");
    c.push_back(std::string("[") + w + ",1]");
    c.push_back(std::string("{\"id\":") + w + "}");
    c.push_back(std::string("{\"a\":") + w + ",\"b\":2}");
  }
  // The reference refuses a root true followed by 3 or more whitespace bytes, and a
  // root false by 2 or more (see the test case on it below).
  c.insert(c.end(), {"true  ", "true   ", "true \t\n", "false ", "false  ", "false\t\t",
                     "null        ", " true", "[true   ]", "{\"id\":false     }"});
  c.insert(c.end(), {"[true false]", "[truefalse]", "[true,false,null]", "{\"a\":null1}"});
  // Whitespace: JSON's four, \f and \v (not JSON whitespace), nothing at all.
  c.insert(c.end(), {" 1 ",
                     "\t1\t",
                     "\r\n1\r\n",
                     "\n",
                     " ",
                     "\t",
                     "\r",
                     "",
                     " \t\r\n ",
                     "[ 1 , 2 ]",
                     "[\t1\r,\n2 ]",
                     " { \"a\" : 1 , \"b\" : [ ] } ",
                     "{\n\"id\"\t:\r\"x\"\n}",
                     "\f1",
                     "1\f",
                     "[\f1]",
                     "[1\f]",
                     "\v1",
                     "[1,\v2]",
                     "{\"a\":\f1}",
                     "\"a\"\v",
                     "{}\f",
                     "{} \n\t",
                     "[]\r"});
  // A UTF-8 byte order mark (not JSON).
  c.insert(c.end(), {"\xef\xbb\xbf{}",
                     "\xef\xbb\xbf"
                     "1",
                     "\xef\xbb\xbf", "{}\xef\xbb\xbf", "\xef\xbb\xbf\"a\"", "[\xef\xbb\xbf]"});
  // Trailing content after the value.
  c.insert(c.end(), {"{} {}",     "1 2",        "\"a\" x",
                     "[1]]",      "{}}",        "[][]",
                     "{}[",       "1,",         "[1],",
                     "null null", "true false", "\"a\"\"b\"",
                     "{}x",       "[]0",        "1 {",
                     "0 0",       "{}]",        "[]}",
                     "1]",        "\"a\"}",     "null,",
                     "{}\"",      "[] \"",      "1 \"",
                     "1\"",       "-1-",        "{\"a\":1}{\"b\":2}"});
  // Commas, colons, keys and brackets missing or extra; unclosed values.
  c.insert(c.end(), {"[1,]",
                     "[,1]",
                     "[1,,2]",
                     "[1 2]",
                     "[,]",
                     "{\"a\":1,}",
                     "{,\"a\":1}",
                     "{\"a\" 1}",
                     "{\"a\"::1}",
                     "{\"a\":1 \"b\":2}",
                     "{\"a\":1,,\"b\":2}",
                     "{\"a\"}",
                     "{\"a\":}",
                     "{1:2}",
                     "{a:1}",
                     "{null:1}",
                     "[:]",
                     "{:1}",
                     "{\"a\",1}",
                     "[1:2]",
                     "{\"a\":1:2}",
                     "{[]:1}",
                     "{{}:1}",
                     "{\"a\":[}",
                     "\"abc",
                     "{",
                     "[",
                     "{\"a\":1",
                     "[1,2",
                     "{\"a\":[1,2}",
                     "[{]}",
                     "[1}",
                     "{\"a\":1]",
                     "{\"a",
                     "{\"a\":\"b",
                     "[\"",
                     "}",
                     "]",
                     ",",
                     ":",
                     "\"",
                     "[[[",
                     "{\"a\":{\"b\":{}}",
                     "[1,",
                     "{\"a\":",
                     "{\"a\"",
                     "[{}",
                     "[[]",
                     "{\"a\":[]",
                     "[\"a\\\"]",
                     "{\"a\\\":1}"});
  // Nesting around the 1000-level limit, and simdjson's own (1024).
  for (int depth : {999, 1000, 1001, 1025}) {
    c.push_back(nested(depth, "["));
    c.push_back(nested(depth, "{"));
    c.push_back(nested(depth, "mixed"));
    c.push_back(nested(depth, "[", "[]"));
    c.push_back(nested(depth, "[", ""));
  }
  c.push_back(nested(999, "[", "{}"));
  c.push_back(nested(1000, "[", "{}"));
  c.push_back(nested(2000, "[").substr(0, 2000));  // unclosed, and too deep
  c.push_back(nested(500, "[").substr(0, 900));    // unclosed
  c.push_back("{\"id\":" + nested(999, "{", "\"x\"") + "}");
  // Duplicate keys, the empty key, keys with dots and backslashes, escaped keys.
  c.insert(c.end(), {R"({"id":1,"id":2})",
                     R"({"id":1,"id":null})",
                     R"({"id":null,"id":1})",
                     R"({"a":{"b":1},"a":{"b":2}})",
                     R"({"a":{"b":1},"a":2})",
                     R"({"a":1,"a":{"b":2}})",
                     R"({"a":{"b":1},"a":{"c":2}})",
                     R"({"":1})",
                     R"({"":{"":2}})",
                     R"({"a.b":1})",
                     R"({"a\\b":2})",
                     R"({"a":{"b":3},"a.b":4})",
                     R"({"a.b":4,"a":{"b":3}})",
                     R"({"a\\.b":5})",
                     R"({"a..b":5})",
                     R"({".":6})",
                     R"({"\\":7})",
                     R"({"\u0061":{"b":8}})",
                     R"({"\u0069\u0064":"via escapes"})",
                     R"({"a\u002eb":9})",
                     R"({"a\u005cb":10})",
                     R"({"id":"x","a":{"b":"y"},"a.b":"z","a\\b":"w"})",
                     R"({"b":{"id":1}})",
                     R"({"a":{},"b":[]})",
                     R"({"a":[],"b":{}})",
                     R"({"id":{"x":1}})",
                     R"({"id":[1]})",
                     R"({"a":{"b":{"c":1}}})",
                     R"({"a":{"b":[1]}})",
                     R"({"a":{"b":null}})",
                     R"({"a":[{"b":1}]})",
                     R"([{"id":1}])",
                     R"({"id":-0})",
                     R"({"id":1.0})",
                     R"({"id":1E+5})",
                     R"({"id":true})",
                     R"({"id":false})",
                     R"({"id":"\u00e9"})",
                     R"({"id":"a\"b"})",
                     R"({"id":""})",
                     R"({"id":123456789012345678901234567890})",
                     "{\"id\":\"\xc3\xa9\"}",
                     "{\"i\xc3\xa9\":1}"});
  // Invalid UTF-8 and NUL bytes in and around values.
  c.insert(c.end(), {"{\"\xff\":1}",
                     "{\"a\xc3\":1}",
                     "1 \xff",
                     "{\"a\":1}\xff",
                     "\xff"
                     "1",
                     "\xc3\xa9"
                     "1",
                     "[1,\xff]",
                     "[\xc3\xa9]",
                     "{\"a\":1,\xff}",
                     "\x80",
                     "{\"a\":\"\xed\xa0\x80\"}",
                     "[\"ok\",\"\xf4\x90\x80\x80\"]",
                     bytes({0}),
                     bytes({'1', 0}),
                     bytes({'[', '1', ',', 0, ' ', '2', ']'}),
                     bytes({'{', '}', 0}),
                     bytes({0, '{', '}'}),
                     bytes({'{', '"', 'a', 0, '"', ':', '1', '}'}),
                     bytes({'"', 'a', '"', 0}),
                     bytes({'[', 0, ']'}),
                     bytes({'t', 'r', 'u', 'e', 0})});
  return c;
}

}  // namespace

TEST_CASE("the corpus of tricky lines converts exactly as the simdjson converter did") {
  Differ d;
  std::vector<std::string> lines = corpus();
  for (const std::string& line : lines)
    for (const CaptureSet& set : kCorpusSets)  // a line that differs is reported once
      if (d.exhausted() || !d.compare(line, set, "corpus", kMaxMismatches)) break;
  // More than 64 captures are refused whatever the line.
  std::vector<std::string_view> many(65, "id");
  d.compare(R"({"id":1})", {many}, "corpus");
  d.compare("[", {many}, "corpus");
  MESSAGE(lines.size() << " corpus lines, " << d.lines() << " conversions, " << d.accepted()
                       << " accepted, a capture found in " << d.captured() << "; "
                       << d.padding_dependent() << " where the reference depends on the padding");
  CHECK(lines.size() >= 150);
  CHECK(d.mismatches() == 0);
}

namespace {

// ---- the random lines ----------------------------------------------------------------

// The capture sets of the random lines, taken in turn: paths into nested objects and
// escaped paths, paths that often hit an object, and none.
const std::vector<CaptureSet> kRandomSets = {
    {{"a.b", "id", "a\\.b", "a\\\\b"}},
    {{"a", "b.id"}, "id field"},
    {},
};

}  // namespace

TEST_CASE("random lines and their mutations convert exactly as the simdjson converter did") {
  // 4 seeds x 12,500 values, each followed by 3 mutations: 200,000 lines.
  constexpr int kValuesPerSeed = 12500;
  Differ d;
  long generated = 0, generated_ok = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    JsonGenerator gen(seed);
    std::mt19937_64& rng = gen.rng();
    for (int i = 0; i < kValuesPerSeed && !d.exhausted(); ++i) {
      const CaptureSet& set = kRandomSets[size_t(i) % kRandomSets.size()];
      std::string line = gen.line();
      long before = d.accepted();
      d.compare(line, set, "generated");
      ++generated;
      generated_ok += d.accepted() - before;
      for (int m = 0; m < 3; ++m) {
        auto kind = Mutation(std::uniform_int_distribution<int>(0, 3)(rng));
        d.compare(test::mutate(line, kind, rng), set, test::kMutationNames[size_t(kind)]);
      }
    }
  }
  MESSAGE(d.lines() << " random lines (" << generated << " generated, " << generated_ok
                    << " of them accepted; " << d.accepted()
                    << " accepted in all; a capture found in " << d.captured() << "; "
                    << d.padding_dependent() << " where the reference depends on the padding)");
  CHECK(d.mismatches() == 0);
  if (!d.exhausted()) CHECK(d.lines() == 200000);
}

// ---- the reference's known faults ---------------------------------------------------
//
// Pinned on the reference as it was (the differential tests compare with it corrected,
// simdjson_reference.h), and JsonToMsgpack checked to read those lines rightly: these
// are the only lines on which pspf's conversion changed when it dropped simdjson.

namespace {

// The reference's result for `json` followed by kJsonPadding bytes `padding`: its
// output as JSON, or its error.
std::string reference_reads(std::string_view json, char padding = ' ') {
  static test::SimdjsonToMsgpack ref;
  std::string padded(json);
  padded.append(kJsonPadding, padding);
  Buffer out;
  if (!ref.convert(std::string_view(padded.data(), json.size()), out, {})) return ref.error();
  return as_json(out.view());
}

// JsonToMsgpack's result for `json`: its output as JSON, or its error.
std::string pspf_reads(std::string_view json) {
  static JsonToMsgpack mine;
  std::string padded(json);
  padded.append(kJsonPadding, '}');
  Buffer out;
  if (!mine.convert(std::string_view(padded.data(), json.size()), out, {})) return mine.error();
  return as_json(out.view());
}

}  // namespace

// simdjson 3.0.1's get_double(), which the reference (and pspf until it dropped
// simdjson) relies on, misreads a number with integer part 0 and more than 20 fraction digits, and
// the reference stores the wrong double: data is altered without an error.
TEST_CASE("the reference misreads 0.<more than 20 digits> (simdjson 3.0.1)") {
  CHECK(reference_reads("0.12345678901234567890") == "0.12345678901234568");   // 20 digits: right
  CHECK(reference_reads("0.123456789012345678901") == "0.01277632457008837");  // 21: wrong
  CHECK(reference_reads("0.1000000000000000055511151231257827") == "4.145161186368179e-16");
  CHECK(reference_reads("-0.1000000000000000055511151231257827e1") == "-4.145161186368179e-15");
  CHECK(reference_reads("10.1000000000000000055511151231257827") == "10.1");  // integer part not 0
  CHECK(pspf_reads("0.123456789012345678901") == "0.12345678901234568");
  CHECK(pspf_reads("0.1000000000000000055511151231257827") == "0.1");
  CHECK(pspf_reads("-0.1000000000000000055511151231257827e1") == "-1.0");
  CHECK(pspf_reads("[0.10000000000000000555111512312578270000001]") == "[0.1]");
}

// simdjson 3.0.1 reads root integers of 19-20 digits wrongly in three ways.
TEST_CASE("the reference misreads some integers of 19-20 digits (simdjson 3.0.1)") {
  CHECK(reference_reads("-18446744073709551615") == "-1844674407370955161");       // a digit lost
  CHECK(reference_reads("[-18446744073709551615]") == "[-18446744073709551615]");  // not inside
  CHECK(reference_reads("-9223372036854775808\\") == "-9223372036854775808");      // junk taken
  CHECK(pspf_reads("-18446744073709551615") == "-18446744073709551615");  // kept as its text
  CHECK(pspf_reads("[-18446744073709551615]") == "[-18446744073709551615]");
  CHECK(pspf_reads("-9223372036854775808\\") == "invalid JSON: malformed number");
  // A root integer followed by whitespace was kept as text (the same number printed,
  // but not an int64); JsonToMsgpack writes an int64.
  Buffer out;
  JsonToMsgpack mine;
  std::string line = "-9223372036854775808\r\r";
  line.append(kJsonPadding, ' ');
  REQUIRE(mine.convert(std::string_view(line.data(), 22), out, {}));
  CHECK(out.view() == std::string_view("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9));
}

// simdjson 3.0.1's get_root_bool() copies a root true or false together with the
// whitespace after it into a 6-byte buffer (copy_to_buffer) and fails when they do not
// fit: the reference then refuses a valid line.
TEST_CASE("the reference refuses a root true followed by 3 whitespace bytes, false by 2") {
  const std::string word = "invalid JSON: unknown word (not true, false or null)";
  CHECK(reference_reads("true  ") == "true");
  CHECK(reference_reads("true   ") == word);
  CHECK(reference_reads("true \t\n") == word);
  CHECK(reference_reads("false ") == "false");
  CHECK(reference_reads("false  ") == word);
  CHECK(reference_reads("false\t\t") == word);
  CHECK(reference_reads("null        ") == "null");  // null is not affected
  CHECK(reference_reads("[true   ]") == "[true]");   // nor a word inside a container
  CHECK(pspf_reads("true   ") == "true");
  CHECK(pspf_reads("true \t\n") == "true");
  CHECK(pspf_reads("false  ") == "false");
}

// simdjson 3.0.1 reads the padding after a line as input: its bracket matching sees
// the brackets there, and is_root_null() tests the byte 5 after a root null's start
// (not 4) to be whitespace or structural. So the reference's result is not a function
// of the line alone; after whitespace padding (as in the differential test) it is.
TEST_CASE("the reference's result depends on the bytes after the line") {
  const std::string unclosed = "invalid JSON: unclosed object or array, or characters after it";
  const std::string unexpected =
      "invalid JSON: unexpected character, or a missing or extra comma, colon or bracket";
  const std::string trailing = "trailing characters after the JSON value";
  CHECK(reference_reads(R"({"a":[})", ' ') == unexpected);
  CHECK(reference_reads(R"({"a":[})", '}') == unclosed);
  CHECK(reference_reads("{}}", ' ') == trailing);
  CHECK(reference_reads("{}}", '}') == unclosed);
  CHECK(reference_reads("[1]]", ' ') == trailing);
  CHECK(reference_reads("[1]]", ']') == unclosed);
  // A root null and one whitespace byte: accepted only when the next byte after the
  // line is whitespace or structural. pspf-produce pads the last line of its input
  // with NUL bytes when it has no newline, so `printf 'null '` is refused there.
  CHECK(reference_reads("null ", ' ') == "null");
  CHECK(reference_reads("null ", '}') == "null");
  CHECK(reference_reads("null ", '\0') == "invalid JSON: unknown word (not true, false or null)");
  CHECK(reference_reads("null", '\0') == "null");
  // JsonToMsgpack reads nothing after the line (pspf_reads pads with '}').
  CHECK(pspf_reads(R"({"a":[})") == unexpected);
  CHECK(pspf_reads("{}}") == trailing);
  CHECK(pspf_reads("[1]]") == trailing);
  CHECK(pspf_reads("null ") == "null");
}
