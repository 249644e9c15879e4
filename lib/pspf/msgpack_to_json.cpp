// MessagePack -> JSON (see json_codec.h for the mapping): an iterative,
// bounds-checked cursor over the bytes, using the hand-written read_item of
// msgpack_visit.h (why: see there): every read is checked against `end` first, so
// malformed input yields false, never a crash; nesting never exceeds kMaxDepth (stack
// safety); on failure `out` is left as it was found.
#include <fmt/compile.h>
#include <fmt/format.h>

#include <array>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>

#include "pspf/json_bytes.h"
#include "pspf/json_codec.h"
#include "pspf/json_text.h"
#include "pspf/msgpack_visit.h"

namespace pspf {

namespace {
using namespace json_detail;
using namespace msgpack_detail;
constexpr int kMaxDepth = static_cast<int>(kMsgpackMaxDepth);
}  // namespace

namespace {

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
  template <class F>
  void number(F d);
};

// Writes the string [p, p + n) quoted, escaped as JSON; bytes up to `readable` may be
// read (not used) so that a short tail takes one 8-byte load. Strings without escapes
// (nearly all) are copied and checked 16 (or 8) bytes at a time; others go to
// escape_slow.
[[gnu::always_inline]] inline void Writer::string(const char* p, size_t n, const char* readable) {
  reserve(n + 2 + 16);  // 16 spare bytes for whole-vector stores
  char* d = w + 1;
  uint64_t bad = 0;
  size_t i = 0;
#if defined(__SSE2__)
  // 16 bytes at a time: most keys and values fit in one vector, tail included.
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                control = _mm_set1_epi8(0x1f);
  auto escapes16 = [&](__m128i x) {
    __m128i below = _mm_cmpeq_epi8(_mm_max_epu8(x, control), control);  // x <= 0x1f
    return unsigned(_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)), below)));
  };
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    bad |= escapes16(x);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), x);
  }
  if (i < n && readable - (p + i) >= 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    bad |= escapes16(x) & ((1u << (n - i)) - 1);  // the bytes past n are not ours
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), x);
    i = n;
  }
#endif
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
template <class F>
void Writer::number(F d) {
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
      // Check the text so that damaged bytes can never produce invalid JSON. A value
      // kept as JSON text (json_text.h) is a whole value: never inside another.
      if (it.ext_type == kJsonTextExt
              ? depth != 0 || !is_compact_json({payload, it.n})
              : it.ext_type != kJsonNumberExt || !is_json_number({payload, it.n}))
        return Step::failed;
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

}  // namespace pspf
