// compact_json / is_compact_json (json_text.h): JSON text checked by the rules the
// JSON codec applies, made compact with strings and numbers as written; and
// msgpack_to_json printing such a value (ext kJsonTextExt) back only when it is a
// whole, sound value.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "pspf/buffer.h"
#include "pspf/json_codec.h"
#include "pspf/json_text.h"
#include "pspf/msgpack.h"

using namespace pspf;

namespace {

// The compact text, or "(invalid)".
std::string compact(std::string_view text) {
  Buffer b;
  b.append("x");  // kept as it was on failure
  if (!compact_json(text, b)) return b.view() == "x" ? "(invalid)" : "(changed on failure)";
  return std::string(b.view().substr(1));
}

std::string printed(std::string_view msgpack) {
  Buffer out;
  const char* p = msgpack.data();
  if (!msgpack_to_json(&p, p + msgpack.size(), out)) return "(refused)";
  return std::string(out.view());
}

}  // namespace

TEST_CASE("JSON text is made compact, strings and numbers as written") {
  CHECK(compact(R"({"a": [1, 2.50, -0, 1e400, {"b" : null}] , "c":"x y\n" })") ==
        R"({"a":[1,2.50,-0,1e400,{"b":null}],"c":"x y\n"})");
  CHECK(compact("  42 ") == "42");
  CHECK(compact("\"\\u00e9\\ud83d\\ude00 \\/ é 😀\"") == "\"\\u00e9\\ud83d\\ude00 \\/ é 😀\"");
  CHECK(compact("[]") == "[]");
  CHECK(compact("{ }") == "{}");
  CHECK(compact("true") == "true");
  CHECK(compact(R"({"k":{"k":{"k":[[[]]]}}})") == R"({"k":{"k":{"k":[[[]]]}}})");
  std::string deep(1000, '[');
  deep += std::string(1000, ']');
  CHECK(compact(deep) == deep);
}

TEST_CASE("what is not one JSON value is refused, and nothing is written") {
  for (std::string_view bad : {"",
                               " ",
                               "hello",
                               "{",
                               "[1,]",
                               "{\"a\":1,}",
                               "{\"a\" 1}",
                               "{1:2}",
                               "[1 2]",
                               "01",
                               "1.",
                               ".5",
                               "+1",
                               "1e",
                               "--1",
                               "tru",
                               "nul",
                               "1 2",
                               "\"abc",
                               "\"a\x01\"",
                               "\"\\x\"",
                               "\"\\u12\"",
                               "\"\\ud800\"",
                               "\"\\udc00\"",
                               "\"\\ud800\\u0041\"",
                               "\"\xff\"",
                               "\"\xc0\xaf\"",
                               "\"\xed\xa0\x80\"",
                               "\"\xf4\x90\x80\x80\"",
                               "\"\xe2\x82\"",
                               "NaN",
                               "[1]x",
                               "{\"a\":1}}",
                               "]"}) {
    CAPTURE(bad);
    CHECK(compact(bad) == "(invalid)");
  }
  std::string too_deep(1001, '[');
  too_deep += std::string(1001, ']');
  CHECK(compact(too_deep) == "(invalid)");
}

TEST_CASE("is_compact_json accepts what compact_json writes, and nothing with spaces") {
  CHECK(is_compact_json(R"({"a":[1,{"b":"c d"}]})"));
  CHECK(is_compact_json("\"x\""));
  CHECK_FALSE(is_compact_json(R"({"a": 1})"));
  CHECK_FALSE(is_compact_json(" 1"));
  CHECK_FALSE(is_compact_json("[1,]"));
}

TEST_CASE("a value kept as JSON text prints as it is, only whole and sound") {
  Buffer v;
  msgpack_put_ext(v, kJsonTextExt, R"({"a":[1,2.50]})");
  CHECK(printed(v.view()) == R"({"a":[1,2.50]})");
  Buffer spaced;
  msgpack_put_ext(spaced, kJsonTextExt, R"({"a": 1})");
  CHECK(printed(spaced.view()) == "(refused)");
  Buffer broken;
  msgpack_put_ext(broken, kJsonTextExt, R"({"a":)");
  CHECK(printed(broken.view()) == "(refused)");
  Buffer nested;  // inside an array: refused
  msgpack_put_array_header(nested, 1);
  msgpack_put_ext(nested, kJsonTextExt, "1");
  CHECK(printed(nested.view()) == "(refused)");
}
