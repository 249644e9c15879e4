// JSON <-> MessagePack without a document tree (see json_codec.h for the mapping).
//
// JSON -> MessagePack walks simdjson's on-demand iterator once and writes MessagePack
// bytes straight into the output Buffer (measured ~8% faster than msgpack-cxx's packer).
// A map or array header is written as a one-byte placeholder and patched when the
// element count is known; the rare container of 16 or more elements has its body
// moved up by 2 or 4 bytes to make room for the longer header.
//
// MessagePack -> JSON is an iterative, bounds-checked cursor over the bytes: every
// read is checked against `end` first, so malformed input yields false, never a crash.
//
// Invariants: nesting never exceeds kMaxDepth in either direction (stack safety); on
// failure convert() and msgpack_to_json() leave `out` as they found it.
#include "pspf/json_codec.h"

#include <fmt/compile.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>

namespace pspf {

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING,
              "simdjson reads up to SIMDJSON_PADDING bytes past the end of a line");

namespace {

namespace od = simdjson::ondemand;

constexpr int kMaxDepth = 1000;  // deepest nesting of arrays/objects accepted

template <class T> inline T load(const char* p) {
  T x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
template <class T> inline void store(char* p, T x) { std::memcpy(p, &x, sizeof x); }

inline char* store_be(char* w, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) w[i] = char(v >> (8 * (bytes - 1 - i)));
  return w + bytes;
}

// memcpy without a library call for the short strings that make up most events.
inline void copy_bytes(char* d, const char* s, size_t n) {
  if (n > 16) return void(std::memcpy(d, s, n));
  if (n >= 8) return store(d, load<uint64_t>(s)), store(d + n - 8, load<uint64_t>(s + n - 8));
  if (n >= 4) return store(d, load<uint32_t>(s)), store(d + n - 4, load<uint32_t>(s + n - 4));
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
}

// ---- MessagePack writing -------------------------------------------------------------

// Writes `tag + k` and then v in 2^k big-endian bytes, k the smallest that holds v:
// MessagePack numbers its 1/2/4/8-byte variants consecutively (0xcc..0xcf, ...).
inline char* put_sized(char* w, uint8_t tag, uint64_t v) {
  int k = v <= 0xff ? 0 : v <= 0xffff ? 1 : v <= 0xffffffff ? 2 : 3;
  *w++ = char(tag + k);
  return store_be(w, v, 1 << k);
}

inline void put_int(Buffer& out, int64_t v) {
  char* w = out.ensure(9);
  char* e = w + 1;
  if (v >= -32 && v < 0x80) {
    *w = char(v);  // positive or negative fixint
  } else if (v >= 0) {
    e = put_sized(w, 0xcc, uint64_t(v));
  } else {
    int k = v >= INT8_MIN ? 0 : v >= INT16_MIN ? 1 : v >= INT32_MIN ? 2 : 3;
    *w = char(0xd0 + k);
    e = store_be(w + 1, uint64_t(v), 1 << k);
  }
  out.commit(e - w);
}

inline void put_str(Buffer& out, std::string_view s) {
  size_t n = s.size();
  assert(n <= 0xffffffff);  // simdjson takes at most 4 GiB of input
  char* w = out.ensure(5 + n);
  char* e = n < 32 ? (*w = char(0xa0 | n), w + 1) : put_sized(w, 0xd9, n);
  copy_bytes(e, s.data(), n);
  out.commit(e + n - w);
}

// Writes ext type kJsonNumberExt holding `text`, a number's text from the line.
void put_number_ext(Buffer& out, std::string_view text) {
  size_t n = text.size();
  char* w = out.ensure(7 + n);
  char* e = w + 1;
  if (std::has_single_bit(n) && n <= 16) *w = char(0xd4 + std::countr_zero(n));  // fixext
  else e = put_sized(w, 0xc7, n);
  *e++ = char(kJsonNumberExt);
  std::memcpy(e, text.data(), n);
  out.commit(e + n - w);
}

// Patches the one-byte placeholder at `pos` into the header of a container of `n`
// elements (fix_tag: 0x80 map, 0x90 array; tag16: 0xde map, 0xdc array).
bool finish_container(Buffer& out, size_t pos, size_t n, uint8_t fix_tag, uint8_t tag16) {
  if (n < 16) return out.data()[pos] = char(fix_tag | n), true;
  if (n > 0xffffffff) return false;
  int len = n <= 0xffff ? 2 : 4;
  out.ensure(len);  // may move the data: take data() only after this
  char* h = out.data() + pos;
  std::memmove(h + 1 + len, h + 1, out.size() - pos - 1);
  out.commit(len);
  h[0] = char(len == 2 ? tag16 : tag16 + 1);
  store_be(h + 1, n, len);
  return true;
}

// ---- JSON text -----------------------------------------------------------------------

// True when `s` matches RFC 8259's number grammar exactly.
bool is_json_number(std::string_view s) {
  size_t i = 0, n = s.size();
  auto digits = [&] {
    size_t b = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > b;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') ++i;
  else if (i >= n || s[i] < '1' || s[i] > '9' || !digits()) return false;
  if (i < n && s[i] == '.' && (++i, !digits())) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

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
struct JsonToMsgpack::Impl {
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

  // The candidates that continue into, or end at, the value under `key`.
  uint64_t match_key(uint64_t cand, size_t start, std::string_view key) const {
    uint64_t next = 0;
    size_t e = start + key.size();
    for (uint64_t m = cand; m; m &= m - 1) {
      std::string_view p = caps[std::countr_zero(m)].path;
      // Cheap tests first: the path must have its end or a '.' right after the key.
      if (p.size() < e || (p.size() > e && p[e] != '.')) continue;
      size_t k = 0;
      while (k < key.size() && p[start + k] == key[k]) ++k;
      if (k == key.size()) next |= m & -m;
    }
    return next;
  }

  bool run(std::string_view line);
  template <class V> bool put_value(V& v, int depth, uint64_t cand, size_t start);
  template <class V> bool put_number(V& v, uint64_t leaf);
  bool put_object(od::object obj, int depth, uint64_t cand, size_t start);
  bool put_array(od::array arr, int depth);
};

// Writes the value `v` (a document at the root, else a value) inside `depth` containers.
template <class V>
bool JsonToMsgpack::Impl::put_value(V& v, int depth, uint64_t cand, size_t start) {
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
        return fail(fmt::format("key field {} is {}", caps[std::countr_zero(leaf)].path,
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
      put_str(*out, s);
      return capture(leaf, s);
    }
    case od::json_type::number: return put_number(v, leaf);
    case od::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b)) return fail(simdjson::T_ATOM_ERROR);
      out->push_back(b ? char(0xc3) : char(0xc2));
      return capture(leaf, b ? "true" : "false");
    }
    case od::json_type::null: {
      bool is_null = false;
      // A root "nullx" gives false without an error in simdjson 3.0.1.
      if (v.is_null().get(is_null) || !is_null) return fail(simdjson::N_ATOM_ERROR);
      out->push_back(char(0xc0));
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
bool JsonToMsgpack::Impl::put_number(V& v, uint64_t leaf) {
  simdjson::simdjson_result<std::string_view> raw_result = v.raw_json_token();
  std::string_view raw;
  if (auto e = std::move(raw_result).get(raw)) return fail(e);
  // The token runs up to the next structural character: drop the whitespace.
  while (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r')
    raw.remove_suffix(1);
  int64_t i;
  uint64_t u;
  double d;
  char* w = out->ensure(9);
  // A failed get_*() does not move the iterator, so the next one reads the same token.
  // get_int64() fails at once on a fraction or an exponent.
  if (!v.get_int64().get(i)) {
    if (i != 0 || raw[0] != '-') return put_int(*out, i), capture(leaf, raw);
  } else if (raw.find_first_of(".eE") != raw.npos) {
    if (!v.get_double().get(d) && std::isfinite(d) && (d != 0 || !nonzero_mantissa(raw))) {
      *w = char(0xcb);
      out->commit(store_be(w + 1, std::bit_cast<uint64_t>(d), 8) - w);
      return capture(leaf, raw);
    }
  } else if (!v.get_uint64().get(u)) {
    out->commit(put_sized(w, 0xcc, u) - w);
    return capture(leaf, raw);
  }
  // Beyond 64 bits, beyond double's range, "-0", or a root number longer than 1082
  // characters (simdjson's limit): keep the text if it is a valid number.
  if (!is_json_number(raw)) return fail(simdjson::NUMBER_ERROR);
  put_number_ext(*out, raw);
  return capture(leaf, raw);
}

bool JsonToMsgpack::Impl::put_object(od::object obj, int depth, uint64_t cand,
                                     size_t start) {
  size_t header = out->size(), n = 0;
  out->push_back(0);  // placeholder, patched by finish_container
  for (auto field_result : obj) {
    od::field field;
    std::string_view key;
    if (auto e = std::move(field_result).get(field)) return fail(e);
    if (auto e = field.unescaped_key().get(key)) return fail(e);
    put_str(*out, key);
    uint64_t next = cand ? match_key(cand, start, key) : 0;
    if (!put_value(field.value(), depth, next, start + key.size() + 1)) return false;
    ++n;
  }
  return finish_container(*out, header, n, 0x80, 0xde) || fail("object too large");
}

bool JsonToMsgpack::Impl::put_array(od::array arr, int depth) {
  size_t header = out->size(), n = 0;
  out->push_back(0);  // placeholder, patched by finish_container
  for (auto element : arr) {
    od::value v;
    if (auto e = std::move(element).get(v)) return fail(e);
    if (!put_value(v, depth, 0, 0)) return false;  // captures follow objects only
    ++n;
  }
  return finish_container(*out, header, n, 0x90, 0xdc) || fail("array too large");
}

bool JsonToMsgpack::Impl::run(std::string_view line) {
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

JsonToMsgpack::JsonToMsgpack() : impl_(std::make_unique<Impl>()) {}
JsonToMsgpack::~JsonToMsgpack() = default;

bool JsonToMsgpack::convert(std::string_view line, Buffer& out,
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

// ---- MessagePack -> JSON -------------------------------------------------------------

namespace {

struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  size_t left() const { return size_t(end - p); }
};

// One decoded MessagePack header. For str, bin and ext the payload follows at the
// cursor and is known to be in bounds (n bytes); for array and map, n is the count.
enum class Kind : uint8_t { nil, boolean, uint, sint, f32, f64, str, bin, ext, array, map };
struct Item {
  Kind kind;
  int8_t ext_type;
  uint64_t n;  // the value of bool/ints/floats (bits), or a length or count
};

inline bool read_be(Cursor& c, int bytes, uint64_t& v) {
  if (c.left() < size_t(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | c.p[i];
  c.p += bytes;
  return true;
}

// Reads one header at the cursor. False when truncated or the byte is 0xc1 (unused).
[[gnu::always_inline]] inline bool read_item(Cursor& c, Item& it) {
  if (c.p == c.end) return false;
  uint8_t b = *c.p++;
  uint64_t v = 0;
  it = {Kind::nil, 0, 0};
  if (b < 0x80) return it = {Kind::uint, 0, b}, true;
  if (b >= 0xa0 && b < 0xc0) return it = {Kind::str, 0, b & 0x1fu}, c.left() >= it.n;
  if (b >= 0xe0) return it = {Kind::sint, 0, uint64_t(int64_t(int8_t(b)))}, true;
  if (b < 0xa0) return it = {b < 0x90 ? Kind::map : Kind::array, 0, b & 0x0fu}, true;
  auto sized = [&](Kind k, int bytes) { return it.kind = k, read_be(c, bytes, it.n); };
  switch (b) {
    case 0xc0: return true;
    case 0xc2: case 0xc3: return it = {Kind::boolean, 0, b & 1u}, true;
    case 0xc4: case 0xc5: case 0xc6: return sized(Kind::bin, 1 << (b - 0xc4)) && c.left() >= it.n;
    case 0xc7: case 0xc8: case 0xc9:
      if (!sized(Kind::ext, 1 << (b - 0xc7)) || !read_be(c, 1, v)) return false;
      return it.ext_type = int8_t(v), c.left() >= it.n;
    case 0xca: return sized(Kind::f32, 4);
    case 0xcb: return sized(Kind::f64, 8);
    case 0xcc: case 0xcd: case 0xce: case 0xcf: return sized(Kind::uint, 1 << (b - 0xcc));
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      int bits = 8 << (b - 0xd0);
      if (!sized(Kind::sint, bits / 8)) return false;
      return it.n = uint64_t(int64_t(it.n << (64 - bits)) >> (64 - bits)), true;  // sign
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
      if (!read_be(c, 1, v)) return false;
      return it = {Kind::ext, int8_t(v), uint64_t(1) << (b - 0xd4)}, c.left() >= it.n;
    case 0xd9: case 0xda: case 0xdb: return sized(Kind::str, 1 << (b - 0xd9)) && c.left() >= it.n;
    case 0xdc: case 0xdd: return sized(Kind::array, 2 << (b - 0xdc));
    case 0xde: case 0xdf: return sized(Kind::map, 2 << (b - 0xde));
    default: return false;  // 0xc1 is never used
  }
}

// How each byte is written inside a JSON string: 0 as it is, 'u' as \u00XX, else
// a backslash and that character.
constexpr auto kEscape = [] {
  std::array<char, 256> t{};
  for (int i = 0; i < 0x20; ++i) t[i] = 'u';
  t['\b'] = 'b', t['\t'] = 't', t['\n'] = 'n', t['\f'] = 'f', t['\r'] = 'r';
  t['"'] = '"', t['\\'] = '\\';
  return t;
}();

// True when one of the 8 bytes in x is '"', '\\' or below 0x20 (exact, no misses).
inline bool has_escape8(uint64_t x) {
  constexpr uint64_t ones = 0x0101010101010101, high = 0x8080808080808080;
  uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
  return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
}

// Output cursor over a Buffer, kept in locals so the hot loop does not go through the
// Buffer's fields: bytes at [buf.data() + buf.size(), w) are written, not committed.
struct Writer {
  Buffer& buf;
  char* w;
  char* cap;

  explicit Writer(Buffer& b) : buf(b) { sync(); }
  void sync() { w = buf.data() + buf.size(), cap = buf.data() + buf.capacity(); }
  void commit() { buf.commit(w - (buf.data() + buf.size())); }
  void reserve(size_t n) {
    if (size_t(cap - w) < n) commit(), buf.ensure(n), sync();
  }
  void put(char c) { reserve(1), *w++ = c; }
  void put(std::string_view s) {
    reserve(s.size()), copy_bytes(w, s.data(), s.size()), w += s.size();
  }
  void string(const char* p, size_t n, const char* readable);
  void escape_slow(const char* p, size_t n);
  template <class F> void number(F d);
};

// Writes the string [p, p + n) quoted, escaped as JSON; bytes up to `readable` may be
// read (not used) so that a short tail takes one 8-byte load. Strings without escapes
// (nearly all) are copied and checked a word at a time; others go to escape_slow.
[[gnu::always_inline]] inline void Writer::string(const char* p, size_t n, const char* readable) {
  reserve(n + 2 + 8);  // 8 spare bytes for whole-word stores
  char* d = w + 1;
  uint64_t bad = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = load<uint64_t>(p + i);
    bad |= has_escape8(x);
    store(d + i, x);
  }
  if (i < n && readable - (p + i) >= 8 && std::endian::native == std::endian::little) {
    uint64_t keep = (uint64_t(1) << (8 * (n - i))) - 1;  // the tail's bytes, then 'a's
    uint64_t x = (load<uint64_t>(p + i) & keep) | (0x6161616161616161 & ~keep);
    bad |= has_escape8(x);
    store(d + i, x);
  } else {
    for (; i < n; ++i) bad |= kEscape[uint8_t(d[i] = p[i])];
  }
  if (bad) return escape_slow(p, n);
  *w = '"';
  d[n] = '"';
  w = d + n + 1;
}

// Writes [p, p + n) quoted with escapes, byte by byte.
void Writer::escape_slow(const char* p, size_t n) {
  *w++ = '"';  // room for n + 2 bytes is reserved
  for (size_t i = 0; i < n; ++i) {
    uint8_t ch = uint8_t(p[i]);
    char e = kEscape[ch];
    if (!e) {
      *w++ = char(ch);
      continue;
    }
    reserve(6 + (n - i - 1) + 1);  // this escape, the rest, the closing quote
    *w++ = '\\', *w++ = e;
    static constexpr char kHex[] = "0123456789abcdef";
    if (e == 'u') *w++ = '0', *w++ = '0', *w++ = kHex[ch >> 4], *w++ = kHex[ch & 15];
  }
  *w++ = '"';
}

// The shortest text that reads back as `d`, with ".0" when it would otherwise read
// back as an integer; null for inf/nan, which JSON cannot express.
template <class F> void Writer::number(F d) {
  if (!std::isfinite(d)) return put("null");
  reserve(32);
  char* e = fmt::format_to(w, FMT_COMPILE("{}"), d);
  if (std::string_view(w, e - w).find_first_of(".en") == std::string_view::npos)
    *e++ = '.', *e++ = '0';
  w = e;
}

// A container being written: values still to come (two per map entry) and, while a
// key that is not a string is being written, where its text began.
struct Level {
  uint64_t pending;
  size_t key_at;
  bool map;
};
constexpr size_t kNoKey = SIZE_MAX;

// What json_item did: failed; ended a value; or left more to write before the value
// ends (opened a container, or wrote a string key and its ':').
enum class Step { failed, value_done, more };

// Writes one scalar, or the opening of a non-empty container (pushed on `stack`).
// Fails on malformed bytes, an unknown ext type or nesting deeper than kMaxDepth.
[[gnu::always_inline]] inline Step json_item(Cursor& c, Writer& o, Level* stack, int& depth) {
  Item it;
  if (!read_item(c, it)) return Step::failed;
  Level* top = depth ? &stack[depth - 1] : nullptr;
  bool key = top && top->map && top->pending % 2 == 0;
  if (key && it.kind != Kind::str && it.kind != Kind::bin)
    top->key_at = o.w - o.buf.data();  // a key that is not a string: quoted when done
  o.reserve(32);
  const char* payload = reinterpret_cast<const char*>(c.p);
  switch (it.kind) {
    case Kind::nil: o.put("null"); break;
    case Kind::boolean: o.put(it.n ? std::string_view("true") : "false"); break;
    case Kind::uint: o.w = fmt::format_to(o.w, FMT_COMPILE("{}"), it.n); break;
    case Kind::sint: o.w = fmt::format_to(o.w, FMT_COMPILE("{}"), int64_t(it.n)); break;
    case Kind::f32: o.number(std::bit_cast<float>(uint32_t(it.n))); break;
    case Kind::f64: o.number(std::bit_cast<double>(it.n)); break;
    case Kind::str:
    case Kind::bin:
      o.string(payload, it.n, reinterpret_cast<const char*>(c.end));
      c.p += it.n;
      if (!key) break;
      o.put(':');  // the usual key: no need for json_next
      --top->pending;
      return Step::more;
    case Kind::ext:
      // Check the text so that damaged bytes can never produce invalid JSON.
      if (it.ext_type != kJsonNumberExt || !is_json_number({payload, it.n})) return Step::failed;
      o.put({payload, it.n});
      c.p += it.n;
      break;
    case Kind::array:
    case Kind::map:
      if (depth >= kMaxDepth) return Step::failed;
      *o.w++ = it.kind == Kind::map ? '{' : '[';
      if (it.n == 0) {
        *o.w++ = it.kind == Kind::map ? '}' : ']';
        break;
      }
      stack[depth++] = {it.kind == Kind::map ? 2 * it.n : it.n, kNoKey, it.kind == Kind::map};
      return Step::more;
  }
  return Step::value_done;
}

// After a value ends: writes the separator that follows it, or closes the containers
// it completes. Returns false when the whole top-level value is done.
inline bool json_next(Writer& o, Level* stack, int& depth) {
  while (depth) {
    Level& t = stack[depth - 1];
    if (--t.pending && t.map && t.pending % 2) {  // a key ended
      if (t.key_at != kNoKey) {
        o.commit();  // rare: quote the key's JSON text (never made from JSON input)
        std::string text(o.buf.data() + t.key_at, o.buf.size() - t.key_at);
        o.buf.resize(t.key_at);
        o.sync();
        o.string(text.data(), text.size(), text.data() + text.size());
        t.key_at = kNoKey;
      }
      return o.put(':'), true;
    }
    if (t.pending) return o.put(','), true;
    o.put(t.map ? '}' : ']');
    --depth;
  }
  return false;
}

}  // namespace

void append_json_string(std::string_view s, Buffer& out) {
  Writer o(out);
  o.string(s.data(), s.size(), s.data() + s.size());
  o.commit();
}

// Iterative, with an explicit stack, so the writer and cursor stay in registers.
bool msgpack_to_json(const char** p, const char* end, Buffer& out) {
  Cursor c{reinterpret_cast<const uint8_t*>(*p), reinterpret_cast<const uint8_t*>(end)};
  size_t start = out.size();
  Writer o(out);
  Level stack[kMaxDepth];
  int depth = 0;
  for (;;) {
    Step step = json_item(c, o, stack, depth);
    if (step == Step::failed) return out.resize(start), false;
    if (step == Step::value_done && !json_next(o, stack, depth)) break;
  }
  o.commit();
  *p = reinterpret_cast<const char*>(c.p);
  return true;
}

bool msgpack_skip(const char** p, const char* end) {
  Cursor c{reinterpret_cast<const uint8_t*>(*p), reinterpret_cast<const uint8_t*>(end)};
  // `pending` counts values still to skip, so no nesting limit is needed; each value
  // takes at least one byte, so the loop ends within end - *p rounds.
  for (uint64_t pending = 1; pending; --pending) {
    Item it;
    if (!read_item(c, it)) return false;
    if (it.kind == Kind::str || it.kind == Kind::bin || it.kind == Kind::ext) c.p += it.n;
    else if (it.kind == Kind::array) pending += it.n;
    else if (it.kind == Kind::map) pending += 2 * it.n;
  }
  *p = reinterpret_cast<const char*>(c.p);
  return true;
}

}  // namespace pspf
