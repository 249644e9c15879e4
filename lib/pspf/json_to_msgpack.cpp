// JSON -> MessagePack without a document tree (see json_codec.h for the mapping;
// the other direction is msgpack_to_json.cpp).
//
// A strict recursive-descent scanner over the line, writing each value straight into
// the output Buffer through msgpack.h. A map or array is opened with a placeholder
// header (msgpack_open_container) and closed when its element count is known. It
// needs no library: the tools that read JSON lines load libc only, which a script
// running one command per event pays for at every start.
//
// It accepts, converts and refuses exactly as the simdjson on-demand parser pspf
// used before did (tests/unit/json_differential_test.cpp compares the two), error
// messages included. Where a line has several faults, the one reported is the one
// simdjson reported: first what its whole-line pass finds (an unclosed string, a
// control character in a string, nothing but whitespace, invalid UTF-8: check_line),
// then the first fault in reading order, except that a root object or array whose
// last token is not its closing bracket is "unclosed" at once.
//
// Invariants: never reads outside the line (the padding json_codec.h asks for is
// not needed); nesting never exceeds kMaxDepth (stack safety); on failure convert()
// leaves `out` as it found it.
#include "pspf/json_bytes.h"
#include "pspf/json_codec.h"
#include "pspf/msgpack_visit.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pspf {

namespace {

using namespace json_detail;

constexpr int kMaxDepth = 1000;  // deepest nesting of arrays/objects accepted
// The longest number simdjson read at the root as a number; a longer one (valid) is
// kept as its text.
constexpr size_t kMaxRootNumber = 1082;

// Why a line is refused.
enum class Fault {
  empty,
  utf8,
  unclosed_string,
  control,
  escape,
  number,
  word,
  trailing,
  depth,
  structure,  // an unexpected character, or a missing or extra comma, colon or bracket
  unclosed,   // a root object or array that does not end with its closing bracket
};

const char* describe(Fault f) {
  switch (f) {
    case Fault::empty: return "invalid JSON: empty line";
    case Fault::utf8: return "invalid UTF-8";
    case Fault::unclosed_string: return "invalid JSON: unclosed string";
    case Fault::control: return "invalid JSON: control character in string";
    case Fault::escape: return "invalid JSON: bad escape in string";
    case Fault::number: return "invalid JSON: malformed number";
    case Fault::word: return "invalid JSON: unknown word (not true, false or null)";
    case Fault::trailing: return "trailing characters after the JSON value";
    case Fault::depth: return "invalid JSON: nested deeper than 1000 levels";
    case Fault::structure:
      return "invalid JSON: unexpected character, or a missing or extra comma, colon or bracket";
    case Fault::unclosed: return "invalid JSON: unclosed object or array, or characters after it";
  }
  return "invalid JSON";
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_structural(char c) {
  return c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',';
}

// Where a number, or a word at the root, ends: at JSON whitespace, a structural
// character, or a form feed or SUB (0x1a), which simdjson's tokenizer also took for
// whitespace (and which are refused where a token may not start).
bool ends_token(char c) { return is_space(c) || is_structural(c) || c == '\f' || c == '\x1a'; }

// Where a word inside a container ends (simdjson checked the byte after the word
// against whitespace and structural characters only).
bool ends_word(char c) { return is_space(c) || is_structural(c); }

// The faults simdjson found in a pass over the whole line before reading any value,
// in its order: a string left open (quotes counted as simdjson counts them: a
// backslash escapes the next byte, inside strings or not), a control character
// inside a string, nothing but whitespace, invalid UTF-8 anywhere.
std::optional<Fault> check_line(std::string_view line) {
  bool in_string = false, control = false, blank = true;
  for (size_t i = 0; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (!is_space(static_cast<char>(c))) blank = false;
    if (in_string && c < 0x20) control = true;
    if (c == '\\') {
      if (++i < line.size() && in_string && static_cast<unsigned char>(line[i]) < 0x20)
        control = true;
      continue;
    }
    if (c == '"') in_string = !in_string;
  }
  if (in_string) return Fault::unclosed_string;
  if (control) return Fault::control;
  if (blank) return Fault::empty;
  auto* p = reinterpret_cast<const unsigned char*>(line.data());
  auto* e = p + line.size();
  while (p < e) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    size_t n = utf8_length(p, e);
    if (n == 0) return Fault::utf8;
    p += n;
  }
  return std::nullopt;
}

void put_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xc0 | cp >> 6);
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xe0 | cp >> 12);
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | cp >> 18);
    s += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// True when a digit before any exponent is not zero (1e-400 is, 0.0e5 is not).
bool nonzero_mantissa(std::string_view s) {
  for (char c : s.substr(0, s.find_first_of("eE")))
    if (c >= '1' && c <= '9') return true;
  return false;
}

// The integer `s` (no fraction, no exponent, valid) as int64 or uint64; false when
// it fits neither, or is "-0".
bool parse_integer(std::string_view s, bool& negative, uint64_t& magnitude) {
  negative = s[0] == '-';
  size_t i = negative ? 1 : 0;
  if (s.size() - i > 20) return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (negative && (v == 0 || v > uint64_t(INT64_MAX) + 1)) return false;
  magnitude = v;
  return true;
}

}  // namespace

// ---- JSON -> MessagePack -------------------------------------------------------------

// The state of one convert() call. Captures are tracked as a bit mask of candidates
// whose path agrees with the keys walked so far; `start` is where the next key
// begins in those paths ("a.b" inside the object under "a": 2). A candidate whose
// path ends exactly at the current value has size() + 1 == start.
struct JsonToMsgpack::Impl {
  const char* p = nullptr;  // the next byte to read
  const char* end = nullptr;
  Buffer* out = nullptr;
  std::span<FieldCapture> caps;
  std::string* error = nullptr;
  std::optional<Fault> fault;
  std::string text;      // the current string, unescaped, when it had escapes
  std::string_view str;  // the current string: in the input, or in text

  bool fail(Fault f) { return fault = f, false; }
  bool fail(std::string msg) { return *error = std::move(msg), false; }

  void skip_space() {
    while (p < end && is_space(*p)) ++p;
  }
  // Steps over `c` when it is at p.
  bool take(char c) {
    if (p == end || *p != c) return false;
    ++p;
    return true;
  }
  // After an element of a container that `close` ends: at a comma, `more` (and the
  // whitespace after it skipped); at `close`, the end; anything else is a fault.
  bool next_element(char close, bool& more) {
    skip_space();
    more = take(',');
    if (more) skip_space();
    return more || take(close) || fail(Fault::structure);
  }

  // Records `value` for the captures in `leaf`; a later duplicate key overrides.
  bool capture(uint64_t leaf, std::string_view value) {
    for (; leaf; leaf &= leaf - 1) {
      FieldCapture& c = caps[std::countr_zero(leaf)];
      c.found = true;
      c.text.assign(value);
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
      std::string_view path = caps[std::countr_zero(m)].path;
      if (path.size() < start + key.size()) continue;  // cheap tests first
      if (!key.empty() && path[start] != key[0] && path[start] != '\\') continue;
      size_t j = start, k = 0;
      for (; k < key.size() && j < path.size(); ++k, ++j) {
        char c = path[j];
        if (c == '.') break;  // the segment ends before the key does
        if (c == '\\') {
          if (++j == path.size() || (path[j] != '.' && path[j] != '\\')) break;
          c = path[j];
        } else if (key[k] == '.' || key[k] == '\\') {
          break;  // these must be escaped
        }
        if (c != key[k]) break;
      }
      if (k == key.size() && (j == path.size() || path[j] == '.')) next |= m & -m;
    }
    return next;
  }

  // How many path characters the segment naming `key` takes.
  static size_t key_span(std::string_view key) {
    return key.size() + static_cast<size_t>(std::count_if(
                            key.begin(), key.end(), [](char c) { return c == '.' || c == '\\'; }));
  }

  // Reads the string at p (its opening quote) into `str`, escapes resolved: a view of
  // the input when it has none (no copy), else of `text`.
  bool read_string();
  [[gnu::noinline]] bool read_escaped_string(const char* a);
  // Past the closing quote of the string whose content starts at q (end when none).
  const char* skip_string(const char* q) const {
    while (q < end && *q != '"') q += *q == '\\' && q + 1 < end ? 2 : 1;
    return q < end ? q + 1 : end;
  }
  // The number or word at p, up to where `ends` says.
  std::string_view token(bool (*ends)(char)) {
    const char* a = p;
    while (p < end && !ends(*p)) ++p;
    return {a, static_cast<size_t>(p - a)};
  }
  bool put_value(int depth, uint64_t cand, size_t start, bool root);
  bool put_number(std::string_view raw, uint64_t leaf, bool root);
  bool put_word(std::string_view raw, uint64_t leaf);
  bool put_object(int depth, uint64_t cand, size_t start);
  bool put_array(int depth);
  bool run(std::string_view line);
};

namespace {

// The first byte at or after p that ends a run of plain string bytes: a quote, a
// backslash, a control character or the start of a multi-byte sequence (end if
// none). Eight bytes at a time: each test flags a byte by its top bit; a flag can be
// false only above a true one of the same test (a borrow), so the lowest is right.
// For the last bytes of a line; plain_run below takes the rest.
[[gnu::noinline]] const char* plain_run_tail(const char* p, const char* end) {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101, kHigh = 0x8080808080808080;
    for (; end - p >= 8; p += 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      uint64_t quote = w ^ (kOnes * '"'), slash = w ^ (kOnes * '\\');
      uint64_t flags = (((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash) |
                        ((w - kOnes * 0x20) & ~w) | w) &
                       kHigh;
      if (flags) return p + std::countr_zero(flags) / 8;
    }
  }
  for (; p < end; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
  }
  return p;
}

// The same, sixteen bytes at a time while the line has them: one signed compare
// flags both the control characters and the bytes from 0x80 (negative as int8).
[[gnu::always_inline]] inline const char* plain_run(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'),
                space = _mm_set1_epi8(0x20);
  for (; end - p >= 16; p += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                                _mm_cmplt_epi8(x, space));
    if (unsigned m = unsigned(_mm_movemask_epi8(stop))) return p + std::countr_zero(m);
  }
#endif
  return plain_run_tail(p, end);
}

}  // namespace

bool JsonToMsgpack::Impl::read_string() {
  const char* a = ++p;
  p = plain_run(p, end);
  if (p == end) return fail(Fault::unclosed_string);
  if (*p == '"') {  // the common string: no escape, nothing to copy
    str = {a, static_cast<size_t>(p - a)};
    ++p;
    return true;
  }
  return read_escaped_string(a);
}

// The rest of read_string, for a string with an escape or a multi-byte character:
// its content starts at a, and p is at the first byte that is not plain.
bool JsonToMsgpack::Impl::read_escaped_string(const char* a) {
  text.clear();
  for (bool first = true;; first = false) {
    if (!first) {
      a = p;
      p = plain_run(p, end);
      if (p == end) return fail(Fault::unclosed_string);
    }
    unsigned char c = static_cast<unsigned char>(*p);
    text.append(a, static_cast<size_t>(p - a));
    if (c == '"') {
      str = text;
      ++p;
      return true;
    }
    if (c < 0x20) return fail(Fault::control);
    if (c >= 0x80) {
      size_t n = utf8_length(reinterpret_cast<const unsigned char*>(p),
                             reinterpret_cast<const unsigned char*>(end));
      if (n == 0) return fail(Fault::utf8);
      text.append(p, n);
      p += n;
      continue;
    }
    // An escape.
    if (++p == end) return fail(Fault::unclosed_string);
    char x = *p++;
    switch (x) {
      case '"': text += '"'; break;
      case '\\': text += '\\'; break;
      case '/': text += '/'; break;
      case 'b': text += '\b'; break;
      case 'f': text += '\f'; break;
      case 'n': text += '\n'; break;
      case 'r': text += '\r'; break;
      case 't': text += '\t'; break;
      case 'u': {
        int32_t v = hex4(p, end);
        if (v < 0) return fail(Fault::escape);
        p += 4;
        uint32_t cp = static_cast<uint32_t>(v);
        if (cp >= 0xdc00 && cp <= 0xdfff) return fail(Fault::escape);  // a low surrogate alone
        if (cp >= 0xd800 && cp <= 0xdbff) {                            // must pair with a low one
          int32_t lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
          if (lo < 0xdc00 || lo > 0xdfff) return fail(Fault::escape);
          p += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (static_cast<uint32_t>(lo) - 0xdc00);
        }
        put_utf8(text, cp);
        break;
      }
      default: return fail(Fault::escape);
    }
  }
}

// Writes the value at p (whitespace before it skipped by the caller) inside `depth`
// containers.
bool JsonToMsgpack::Impl::put_value(int depth, uint64_t cand, size_t start, bool root) {
  if (p == end) return fail(Fault::structure);
  uint64_t leaf = 0;
  for (uint64_t m = cand; m; m &= m - 1)
    if (caps[std::countr_zero(m)].path.size() + 1 == start) leaf |= m & -m;
  char c = *p;
  switch (c) {
    case '{':
    case '[': {
      bool is_object = c == '{';
      if (leaf)
        return fail(fmt::format("{} {} is {}", caps[std::countr_zero(leaf)].what,
                                caps[std::countr_zero(leaf)].path,
                                is_object ? "an object" : "an array"));
      if (depth >= kMaxDepth) return fail(Fault::depth);
      ++p;
      return is_object ? put_object(depth + 1, cand, start) : put_array(depth + 1);
    }
    case '"': {
      if (!read_string()) return false;
      msgpack_detail::put_str(*out, str);
      return capture(leaf, str);
    }
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': {
      // The common number, an integer of 1 to 18 digits (no overflow possible) that a
      // token end follows, is read in the same pass that finds its end; any other
      // text takes put_number's way. (Two passes, a token scan and a parse, were 6%
      // of an import of inventory events.)
      const char* q = p + (c == '-');
      const char* digits = q;
      int64_t v = 0;
      for (const char* stop = q + std::min<ptrdiff_t>(end - q, 19);
           q < stop && static_cast<unsigned>(*q - '0') < 10; ++q)
        v = v * 10 + (*q - '0');
      size_t n = static_cast<size_t>(q - digits);
      if (n >= 1 && n <= 18 && (*digits != '0' || n == 1) && (q == end || ends_token(*q)) &&
          !(c == '-' && v == 0)) {  // "-0" keeps its text (put_number)
        std::string_view raw(p, static_cast<size_t>(q - p));
        p = q;
        msgpack_detail::put_int(*out, c == '-' ? -v : v);
        return capture(leaf, raw);
      }
      return put_number(token(ends_token), leaf, root);
    }
    case 't':
    case 'f':
    case 'n': return put_word(token(root ? ends_token : ends_word), leaf);
    default: return fail(Fault::structure);
  }
}

// int64/uint64 when the integer fits, float64 when the text has a fraction or an
// exponent and the double is finite (and not 0 from a nonzero text); otherwise the
// text itself as kJsonNumberExt ("-0" too). Captures get the number's text. (The
// common integer does not come here: put_value reads it.)
bool JsonToMsgpack::Impl::put_number(std::string_view raw, uint64_t leaf, bool root) {
  if (!is_json_number(raw)) return fail(Fault::number);
  // (Not find_first_of: it calls memchr on ".eE" for every digit, 5% of an import.)
  bool fraction =
      std::any_of(raw.begin(), raw.end(), [](char c) { return c == '.' || c == 'e' || c == 'E'; });
  if (!(root && raw.size() > kMaxRootNumber)) {
    if (!fraction) {
      bool negative;
      uint64_t magnitude;
      if (parse_integer(raw, negative, magnitude)) {
        if (negative)
          msgpack_detail::put_int(*out, static_cast<int64_t>(0 - magnitude));
        else if (magnitude <= uint64_t(INT64_MAX))
          msgpack_detail::put_int(*out, static_cast<int64_t>(magnitude));
        else
          msgpack_put_uint(*out, magnitude);
        return capture(leaf, raw);
      }
    } else {
      double d = 0;
      auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), d);
      if (ec == std::errc() && ptr == raw.data() + raw.size() && std::isfinite(d) &&
          (d != 0 || !nonzero_mantissa(raw))) {
        msgpack_put_float64(*out, d);
        return capture(leaf, raw);
      }
    }
  }
  // Beyond 64 bits, beyond double's range, "-0", or a root number longer than
  // kMaxRootNumber characters: keep the text.
  msgpack_put_ext(*out, kJsonNumberExt, raw);
  return capture(leaf, raw);
}

bool JsonToMsgpack::Impl::put_word(std::string_view raw, uint64_t leaf) {
  if (raw == "true" || raw == "false") {
    msgpack_put_bool(*out, raw == "true");
    return capture(leaf, raw);
  }
  if (raw != "null") return fail(Fault::word);
  msgpack_put_nil(*out);
  for (; leaf; leaf &= leaf - 1) caps[std::countr_zero(leaf)].found = false;
  return true;
}

bool JsonToMsgpack::Impl::put_object(int depth, uint64_t cand, size_t start) {
  size_t header = msgpack_open_container(*out), n = 0;
  skip_space();
  for (bool more = !take('}'); more;) {
    if (p == end || *p != '"') return fail(Fault::structure);
    const char* key = p;
    bool read = read_string();
    if (read) skip_space();
    if (!read || p == end || *p != ':') {
      // A missing colon is the fault even when the key is bad too (as simdjson had it,
      // which looked for the colon first): only on this path is the key passed over
      // again to find out.
      p = skip_string(key + 1);
      skip_space();
      if (p == end || *p != ':') return fail(Fault::structure);
      return false;  // the key's own fault
    }
    ++p;
    msgpack_detail::put_str(*out, str);
    uint64_t next = cand ? match_key(cand, start, str) : 0;
    size_t next_start = next ? start + key_span(str) + 1 : 0;
    skip_space();
    if (!put_value(depth, next, next_start, false)) return false;
    ++n;
    if (!next_element('}', more)) return false;
  }
  return msgpack_close_map(*out, header, n) || fail("object too large");
}

bool JsonToMsgpack::Impl::put_array(int depth) {
  size_t header = msgpack_open_container(*out), n = 0;
  skip_space();
  for (bool more = !take(']'); more;) {
    if (!put_value(depth, 0, 0, false)) return false;  // captures follow objects only
    ++n;
    if (!next_element(']', more)) return false;
  }
  return msgpack_close_array(*out, header, n) || fail("array too large");
}

bool JsonToMsgpack::Impl::run(std::string_view line) {
  p = line.data();
  end = p + line.size();
  fault.reset();
  skip_space();
  if (p == end) return fail(Fault::empty);
  uint64_t cand = 0;
  for (size_t i = 0; i < caps.size(); ++i)
    if (!caps[i].path.empty()) cand |= uint64_t(1) << i;
  const char* last = end;
  while (is_space(last[-1])) --last;
  char first = *p;
  if (!std::strchr("{[\"-0123456789tfn", first) || first == '\0')
    return fail(Fault::structure);  // no value starts so
  if (first == '{' || first == '[') {
    // A root container must end with its closing bracket, whatever comes before.
    if (last[-1] != (first == '{' ? '}' : ']')) return fail(Fault::unclosed);
  } else if (first == '"') {
    // A root scalar is checked for what follows it before it is read.
    if (skip_string(p + 1) < last) return fail(Fault::trailing);
  } else {
    const char* q = p;
    while (q < end && !ends_token(*q)) ++q;
    if (q < last) return fail(Fault::trailing);
  }
  if (!put_value(0, cand, 0, true)) return false;
  skip_space();
  return p == end || fail(Fault::trailing);
}

JsonToMsgpack::JsonToMsgpack() : impl_(std::make_unique<Impl>()) {}
JsonToMsgpack::~JsonToMsgpack() = default;

bool JsonToMsgpack::convert(std::string_view line, Buffer& out, std::span<FieldCapture> captures) {
  for (FieldCapture& c : captures) c.found = false;
  if (captures.size() > 64) return error_ = "too many key fields (at most 64)", false;
  size_t mark = out.size();
  impl_->out = &out;
  impl_->caps = captures;
  impl_->error = &error_;
  if (impl_->run(line)) return true;
  // A fault of the line as a whole comes first, as it did with simdjson.
  if (impl_->fault) {
    std::optional<Fault> whole = check_line(line);
    error_ = describe(whole ? *whole : *impl_->fault);
  } else if (std::optional<Fault> whole = check_line(line)) {
    error_ = describe(*whole);
  }
  out.resize(mark);
  for (FieldCapture& c : captures) c.found = false;
  return false;
}

}  // namespace pspf
