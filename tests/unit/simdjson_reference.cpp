// The oracle of json_differential_test: the JSON -> MessagePack converter pspf used
// until it dropped simdjson (lib/pspf/json_to_msgpack.cpp at commit 523d6bc), kept
// here verbatim except for its name (pspf::test::SimdjsonToMsgpack). Its logic must
// not change: the test holds pspf::JsonToMsgpack to exactly what this one does.
//
// What follows is the original file's own description.
//
// JSON -> MessagePack without a document tree (see json_codec.h for the mapping;
// the other direction is msgpack_to_json.cpp).
//
// Walks simdjson's on-demand iterator once and writes each value straight into the
// output Buffer through msgpack.h. A map or array is opened with a placeholder
// header (msgpack_open_container) and closed when its element count is known.
//
// Invariants: nesting never exceeds kMaxDepth (stack safety); on failure convert()
// leaves `out` as it found it.
#include "simdjson_reference.h"
#include "pspf/json_bytes.h"
#include "pspf/json_codec.h"
#include "pspf/msgpack_visit.h"

#include <fmt/compile.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace pspf::test {

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING,
              "simdjson reads up to SIMDJSON_PADDING bytes past the end of a line");

namespace {

namespace od = simdjson::ondemand;
using namespace json_detail;

constexpr int kMaxDepth = 1000;  // deepest nesting of arrays/objects accepted

// ---- JSON text -----------------------------------------------------------------------

// True when a digit before any exponent is not zero (1e-400 is, 0.0e5 is not).
bool nonzero_mantissa(std::string_view s) {
  for (char c : s.substr(0, s.find_first_of("eE")))
    if (c >= '1' && c <= '9') return true;
  return false;
}

// A short, human reason for a simdjson error.
std::string describe(simdjson::error_code e) {
  switch (e) {
    case simdjson::UTF8_ERROR: return "invalid UTF-8";
    case simdjson::EMPTY: return "invalid JSON: empty line";
    case simdjson::UNCLOSED_STRING: return "invalid JSON: unclosed string";
    case simdjson::UNESCAPED_CHARS: return "invalid JSON: control character in string";
    case simdjson::STRING_ERROR: return "invalid JSON: bad escape in string";
    case simdjson::NUMBER_ERROR: return "invalid JSON: malformed number";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR: return "invalid JSON: unknown word (not true, false or null)";
    case simdjson::TRAILING_CONTENT: return "trailing characters after the JSON value";
    case simdjson::DEPTH_ERROR: return "invalid JSON: nested deeper than 1000 levels";
    case simdjson::TAPE_ERROR:
      return "invalid JSON: unexpected character, or a missing or extra comma, colon or bracket";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return "invalid JSON: unclosed object or array, or characters after it";
    default: return std::string("invalid JSON: ") + simdjson::error_message(e);
  }
}

}  // namespace

// ---- JSON -> MessagePack -------------------------------------------------------------

// The reusable parser and the state of one convert() call. Captures are tracked as a
// bit mask of candidates whose path agrees with the keys walked so far; `start` is
// where the next key begins in those paths ("a.b" inside the object under "a": 2).
// A candidate whose path ends exactly at the current value has size() + 1 == start.
struct SimdjsonToMsgpack::Impl {
  bool corrected = false;
  od::parser parser;
  Buffer* out = nullptr;
  std::span<FieldCapture> caps;
  std::string* error = nullptr;

  bool fail(simdjson::error_code e) { return fail(describe(e)); }
  bool fail(std::string msg) { return *error = std::move(msg), false; }

  // Records `text` for the captures in `leaf`; a later duplicate key overrides.
  bool capture(uint64_t leaf, std::string_view text) {
    for (; leaf; leaf &= leaf - 1) {
      FieldCapture& c = caps[std::countr_zero(leaf)];
      c.found = true;
      c.text.assign(text);
    }
    return true;
  }

  // The candidates that continue into, or end at, the value under `key`. In a
  // path '.' separates members, a backslash before '.' makes it a literal dot, and
  // two backslashes are one; a backslash before anything else matches nothing. So
  // a key's segment is as long in every path that matches it: key_span(key).
  uint64_t match_key(uint64_t cand, size_t start, std::string_view key) const {
    uint64_t next = 0;
    for (uint64_t m = cand; m; m &= m - 1) {
      std::string_view p = caps[std::countr_zero(m)].path;
      if (p.size() < start + key.size()) continue;  // cheap test first
      size_t j = start, k = 0;
      for (; k < key.size() && j < p.size(); ++k, ++j) {
        char c = p[j];
        if (c == '.') break;  // the segment ends before the key does
        if (c == '\\') {
          if (++j == p.size() || (p[j] != '.' && p[j] != '\\')) break;
          c = p[j];
        } else if (key[k] == '.' || key[k] == '\\') {
          break;  // these must be escaped
        }
        if (c != key[k]) break;
      }
      if (k == key.size() && (j == p.size() || p[j] == '.')) next |= m & -m;
    }
    return next;
  }

  // How many path characters the segment naming `key` takes.
  static size_t key_span(std::string_view key) {
    return key.size() + static_cast<size_t>(std::count_if(
                            key.begin(), key.end(), [](char c) { return c == '.' || c == '\\'; }));
  }

  bool run(std::string_view line);
  template <class V>
  bool put_value(V& v, int depth, uint64_t cand, size_t start);
  template <class V>
  bool put_number(V& v, uint64_t leaf);
  bool put_object(od::object obj, int depth, uint64_t cand, size_t start);
  bool put_array(od::array arr, int depth);
};

// Writes the value `v` (a document at the root, else a value) inside `depth` containers.
template <class V>
bool SimdjsonToMsgpack::Impl::put_value(V& v, int depth, uint64_t cand, size_t start) {
  od::json_type type;
  if (auto e = v.type().get(type)) return fail(e);
  uint64_t leaf = 0;
  for (uint64_t m = cand; m; m &= m - 1)
    if (caps[std::countr_zero(m)].path.size() + 1 == start) leaf |= m & -m;
  switch (type) {
    case od::json_type::object:
    case od::json_type::array: {
      bool is_object = type == od::json_type::object;
      if (leaf)
        return fail(fmt::format("{} {} is {}", caps[std::countr_zero(leaf)].what,
                                caps[std::countr_zero(leaf)].path,
                                is_object ? "an object" : "an array"));
      if (depth >= kMaxDepth) return fail(simdjson::DEPTH_ERROR);
      od::object obj;
      od::array arr;
      if (auto e = is_object ? v.get_object().get(obj) : v.get_array().get(arr)) return fail(e);
      return is_object ? put_object(obj, depth + 1, cand, start) : put_array(arr, depth + 1);
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return fail(e);
      msgpack_detail::put_str(*out, s);
      return capture(leaf, s);
    }
    case od::json_type::number: return put_number(v, leaf);
    case od::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b)) return fail(simdjson::T_ATOM_ERROR);
      msgpack_put_bool(*out, b);
      return capture(leaf, b ? "true" : "false");
    }
    case od::json_type::null: {
      bool is_null = false;
      // A root "nullx" gives false without an error in simdjson 3.0.1.
      if (v.is_null().get(is_null) || !is_null) return fail(simdjson::N_ATOM_ERROR);
      msgpack_put_nil(*out);
      for (; leaf; leaf &= leaf - 1) caps[std::countr_zero(leaf)].found = false;
      return true;
    }
  }
  return fail(simdjson::TAPE_ERROR);
}

// int64/uint64 when the integer fits, float64 when the text has a fraction or an
// exponent and the double is finite (and not 0 from a nonzero text); otherwise the
// text itself as kJsonNumberExt ("-0" too). Captures get the number's text.
// (Not get_number(): in simdjson 3.0.1 it yields 0 for 20+ significant digits.)
template <class V>
bool SimdjsonToMsgpack::Impl::put_number(V& v, uint64_t leaf) {
  simdjson::simdjson_result<std::string_view> raw_result = v.raw_json_token();
  std::string_view raw;
  if (auto e = std::move(raw_result).get(raw)) return fail(e);
  // The token runs up to the next structural character: drop the whitespace.
  while (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r')
    raw.remove_suffix(1);
  int64_t i;
  uint64_t u;
  double d;
  // Corrected: a number must be valid whole (simdjson 3.0.1 accepts a root integer of
  // 20 digits followed by junk), and an integer's value comes from its text (it
  // misreads a negative one of 20 digits, and keeps as text a root one of 19-20 digits
  // followed by whitespace).
  if (corrected && !is_json_number(raw)) return fail(simdjson::NUMBER_ERROR);
  if (corrected && raw.find_first_of(".eE") == raw.npos) {
    const char* e = raw.data() + raw.size();
    auto [pi, ei] = std::from_chars(raw.data(), e, i);
    if (ei == std::errc() && pi == e && (i != 0 || raw[0] != '-'))
      return msgpack_detail::put_int(*out, i), capture(leaf, raw);
    auto [pu, eu] = std::from_chars(raw.data(), e, u);
    if (eu == std::errc() && pu == e) return msgpack_put_uint(*out, u), capture(leaf, raw);
    msgpack_put_ext(*out, kJsonNumberExt, raw);
    return capture(leaf, raw);
  }
  // A failed get_*() does not move the iterator, so the next one reads the same token.
  // get_int64() fails at once on a fraction or an exponent.
  if (!v.get_int64().get(i)) {
    if (i != 0 || raw[0] != '-') return msgpack_detail::put_int(*out, i), capture(leaf, raw);
  } else if (raw.find_first_of(".eE") != raw.npos) {
    bool read = !v.get_double().get(d);
    if (read && corrected) d = std::strtod(std::string(raw).c_str(), nullptr);
    if (read && std::isfinite(d) && (d != 0 || !nonzero_mantissa(raw))) {
      msgpack_put_float64(*out, d);
      return capture(leaf, raw);
    }
  } else if (!v.get_uint64().get(u)) {
    msgpack_put_uint(*out, u);
    return capture(leaf, raw);
  }
  // Beyond 64 bits, beyond double's range, "-0", or a root number longer than 1082
  // characters (simdjson's limit): keep the text if it is a valid number.
  if (!is_json_number(raw)) return fail(simdjson::NUMBER_ERROR);
  msgpack_put_ext(*out, kJsonNumberExt, raw);
  return capture(leaf, raw);
}

bool SimdjsonToMsgpack::Impl::put_object(od::object obj, int depth, uint64_t cand, size_t start) {
  size_t header = msgpack_open_container(*out), n = 0;
  for (auto field_result : obj) {
    od::field field;
    std::string_view key;
    if (auto e = std::move(field_result).get(field)) return fail(e);
    if (auto e = field.unescaped_key().get(key)) return fail(e);
    msgpack_detail::put_str(*out, key);
    uint64_t next = cand ? match_key(cand, start, key) : 0;
    if (!put_value(field.value(), depth, next, next ? start + key_span(key) + 1 : 0)) return false;
    ++n;
  }
  return msgpack_close_map(*out, header, n) || fail("object too large");
}

bool SimdjsonToMsgpack::Impl::put_array(od::array arr, int depth) {
  size_t header = msgpack_open_container(*out), n = 0;
  for (auto element : arr) {
    od::value v;
    if (auto e = std::move(element).get(v)) return fail(e);
    if (!put_value(v, depth, 0, 0)) return false;  // captures follow objects only
    ++n;
  }
  return msgpack_close_array(*out, header, n) || fail("array too large");
}

bool SimdjsonToMsgpack::Impl::run(std::string_view line) {
  // No copy: the caller guarantees kJsonPadding readable bytes after the line.
  simdjson::padded_string_view json(line.data(), line.size(), line.size() + kJsonPadding);
  od::document doc;
  od::json_type type;
  if (auto e = parser.iterate(json).get(doc)) return fail(e);
  if (auto e = doc.type().get(type)) return fail(e);
  bool container = type == od::json_type::object || type == od::json_type::array;
  if (!container) {
    // A root scalar's token runs to the next token or to the end of the line.
    std::string_view raw;
    if (auto e = doc.raw_json_token().get(raw)) return fail(e);
    if (raw.data() + raw.size() != line.data() + line.size())
      return fail(simdjson::TRAILING_CONTENT);
    // simdjson 3.0.1 takes a root "falsey" for false: check the words here.
    raw = raw.substr(0, raw.find_last_not_of(" \t\n\r") + 1);
    bool word = type == od::json_type::boolean || type == od::json_type::null;
    if (word && raw != "true" && raw != "false" && raw != "null")
      return fail(simdjson::N_ATOM_ERROR);
    if (word && corrected) {  // a root word has no captures
      if (raw == "null")
        msgpack_put_nil(*out);
      else
        msgpack_put_bool(*out, raw == "true");
      return true;
    }
  }
  uint64_t cand = 0;
  for (size_t i = 0; i < caps.size(); ++i)
    if (!caps[i].path.empty()) cand |= uint64_t(1) << i;
  if (!put_value(doc, 0, cand, 0)) return false;
  // simdjson 3.0.1 does not notice "{} {}" by itself: after the root container the
  // iterator must be at the end of the input.
  if (container && doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return fail(simdjson::TRAILING_CONTENT);
  return true;
}

SimdjsonToMsgpack::SimdjsonToMsgpack(bool corrected) : impl_(std::make_unique<Impl>()) {
  impl_->corrected = corrected;
}
SimdjsonToMsgpack::~SimdjsonToMsgpack() = default;

bool SimdjsonToMsgpack::convert(std::string_view line, Buffer& out,
                                std::span<FieldCapture> captures) {
  for (FieldCapture& c : captures) c.found = false;
  if (captures.size() > 64) return error_ = "too many key fields (at most 64)", false;
  size_t mark = out.size();
  impl_->out = &out;
  impl_->caps = captures;
  impl_->error = &error_;
  if (impl_->run(line)) return true;
  out.resize(mark);
  for (FieldCapture& c : captures) c.found = false;
  return false;
}

}  // namespace pspf::test
