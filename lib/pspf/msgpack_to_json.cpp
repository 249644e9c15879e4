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
#include <type_traits>

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

#if defined(__SSE2__)
// One bit per byte of x that must be escaped: '"', '\\' or below 0x20.
inline unsigned escapes16(__m128i x) {
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                control = _mm_set1_epi8(0x1f);
  __m128i below = _mm_cmpeq_epi8(_mm_max_epu8(x, control), control);  // x <= 0x1f
  return unsigned(_mm_movemask_epi8(
      _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)), below)));
}
#endif

// Copies the string body [p, p + n) to d and says whether a byte of it must be
// escaped. Room for n + 16 bytes at d; bytes up to `readable` may be read (not used)
// so that a short tail takes one load. Strings without escapes (nearly all) are
// copied and checked 16 (or 8) bytes at a time.
[[gnu::always_inline]] inline bool copy_unescaped(char* d, const char* p, size_t n,
                                                  const char* readable) {
  uint64_t bad = 0;
  size_t i = 0;
#if defined(__SSE2__)
  if (n <= 16 && readable - p >= 16) {  // most keys and values: one vector
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d), x);
    return escapes16(x) & ((1u << n) - 1);  // the bytes past n are not ours
  }
  for (; i + 16 <= n; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    bad |= escapes16(x);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), x);
  }
  if (i < n && readable - (p + i) >= 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    bad |= escapes16(x) & ((1u << (n - i)) - 1);
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
  return bad != 0;
}

// Writes the string body [p, p + n) escaped as JSON; room for 6 * n bytes at w.
char* escape_into(char* w, const char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    uint8_t ch = uint8_t(p[i]);
    char e = kEscape[ch];
    if (!e) {
      *w++ = char(ch);
      continue;
    }
    *w++ = '\\', *w++ = e;
    if (e == 'u') *w++ = '0', *w++ = '0', *w++ = kHex[ch >> 4], *w++ = kHex[ch & 15];
  }
  return w;
}

// The shortest text that reads back as `d`, with ".0" when it would otherwise read
// back as an integer; null for inf/nan, which JSON cannot express. Room for 32 bytes.
template <class F>
char* write_number(char* w, F d) {
  if (!std::isfinite(d)) return copy_bytes(w, "null", 4), w + 4;
  char* e = fmt::format_to(w, FMT_COMPILE("{}"), d);
  if (std::string_view(w, e - w).find_first_of(".en") == std::string_view::npos)
    *e++ = '.', *e++ = '0';
  return e;
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
  // The string [p, p + n) quoted, escaped as JSON; bytes up to `readable` may be read.
  void string(const char* p, size_t n, const char* readable) {
    reserve(n + 2 + 16);  // 16 spare bytes for whole-vector stores
    if (copy_unescaped(w + 1, p, n, readable)) return escape_slow(p, n);
    *w = '"';
    w[n + 1] = '"';
    w += n + 2;
  }
  // The same for a string with escapes, a piece at a time so that the room it
  // reserves stays small next to the string.
  void escape_slow(const char* p, size_t n) {
    put('"');
    for (size_t done = 0, piece; done < n; done += piece) {
      piece = std::min<size_t>(n - done, 1 << 16);
      reserve(6 * piece), w = escape_into(w, p + done, piece);
    }
    put('"');
  }
  template <class F>
  void number(F d) {
    reserve(32), w = write_number(w, d);
  }
};

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

// ---- the fast path -----------------------------------------------------------------
// Nearly every value is a map or array of short strings, integers, floats, booleans
// and nulls, a few levels deep. On those the general writer above spends most of its
// instructions on bookkeeping: a room check per token, a stack entry per container, a
// separator step per element. fast_json writes them in one loop into room reserved
// once (callgrind, 100k inventory events of 7 keys: 1,700 instructions an event
// before, 980 with it). The room: a value of n bytes never prints more than 6n, the
// most per byte being a control character in a string ("\u0001" from 1 byte, plus
// its share of the header and quotes) and false (5 bytes and a separator from 1).
// fast_json gives up on anything else: ext types, keys that are not strings, 32-bit
// lengths, nesting deeper than kFastDepth, truncated or malformed bytes. The general
// writer then starts again from the value's first byte, and prints or refuses it as
// it always did. Both print the same bytes for every input: json_codec_test compares
// them on random and damaged values.

constexpr int kFastDepth = 32;
// Larger values go to the general writer, so that the room reserved stays small.
constexpr size_t kFastBytes = 64 << 10;

// Writes the value at p (not past end) at w, with room for 6 * (end - p) + 32 bytes,
// and moves both past it; false when it gives up. One loop with the cursors in locals,
// so that they stay in registers.
bool fast_json(const uint8_t*& p_in, const uint8_t* end, char*& w_in) {
  const uint8_t* p = p_in;
  char* w = w_in;
  struct Open {
    uint64_t left;  // elements (map entries) not yet written
    bool map;
  };
  Open stack[kFastDepth];
  int depth = 0;
  bool want_key = false;

  // The big-endian number in the next `bytes` bytes, if they are there.
  auto be = [&](int bytes, uint64_t& v) {
    if (size_t(end - p) < size_t(bytes)) return false;
    v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    p += bytes;
    return true;
  };
  // A string of n bytes at p, quoted.
  auto string = [&](uint64_t n) {
    if (size_t(end - p) < n) return false;
    const char* s = reinterpret_cast<const char*>(p);
    *w = '"';
    if (copy_unescaped(w + 1, s, n, reinterpret_cast<const char*>(end)))
      w = escape_into(w + 1, s, n);
    else
      w += n + 1;
    *w++ = '"';
    p += n;
    return true;
  };
  auto integer = [&](auto v) {
    if constexpr (std::is_signed_v<decltype(v)>)
      return w = write_decimal(w, int64_t(v)), true;
    else
      return w = write_decimal(w, uint64_t(v)), true;
  };
  auto put = [&](std::string_view t) {
    return copy_bytes(w, t.data(), t.size()), w += t.size(), true;
  };
  // Opens a container of n elements; an empty one is a whole value (returns false).
  auto open = [&](uint64_t n, bool map) {
    *w++ = map ? '{' : '[';
    if (n == 0) return *w++ = map ? '}' : ']', false;
    stack[depth++] = {n, map};
    want_key = map;
    return true;
  };

  for (;;) {
    if (p == end) return false;
    uint8_t b = *p++;
    uint64_t n;
    if (want_key) {  // a map key: a string
      if (b >= 0xa0 && b < 0xc0)
        n = b & 0x1fu;
      else if (!((b == 0xd9 || b == 0xc4) && be(1, n)) && !((b == 0xda || b == 0xc5) && be(2, n)))
        return false;  // not a string, a 32-bit length, or cut short
      if (!string(n)) return false;
      *w++ = ':';
      want_key = false;
      continue;
    }
    if (b < 0x80) {
      integer(unsigned(b));
    } else if (b >= 0xa0 && b < 0xc0) {
      if (!string(b & 0x1fu)) return false;
    } else if (b >= 0xe0) {
      integer(int(int8_t(b)));
    } else if (b < 0xa0) {
      if (depth == kFastDepth) return false;
      if (open(b & 0x0fu, b < 0x90)) continue;
    } else {
      bool ok;
      switch (b) {
        case 0xc0: ok = put("null"); break;
        case 0xc2: ok = put("false"); break;
        case 0xc3: ok = put("true"); break;
        case 0xc4:
        case 0xd9: ok = be(1, n) && string(n); break;
        case 0xc5:
        case 0xda: ok = be(2, n) && string(n); break;
        case 0xca:
          ok = be(4, n) && (w = write_number(w, std::bit_cast<float>(uint32_t(n))), true);
          break;
        case 0xcb: ok = be(8, n) && (w = write_number(w, std::bit_cast<double>(n)), true); break;
        case 0xcc: ok = be(1, n) && integer(n); break;
        case 0xcd: ok = be(2, n) && integer(n); break;
        case 0xce: ok = be(4, n) && integer(n); break;
        case 0xcf: ok = be(8, n) && integer(n); break;
        case 0xd0: ok = be(1, n) && integer(int(int8_t(n))); break;
        case 0xd1: ok = be(2, n) && integer(int(int16_t(n))); break;
        case 0xd2: ok = be(4, n) && integer(int32_t(n)); break;
        case 0xd3: ok = be(8, n) && integer(int64_t(n)); break;
        case 0xdc:
        case 0xde:
          if (depth == kFastDepth || !be(2, n)) return false;
          if (open(n, b == 0xde)) continue;
          ok = true;
          break;
        default: return false;  // ext, 32-bit lengths and counts, 0xc1
      }
      if (!ok) return false;
    }
    // A value ended: the separator after it, or the ends of the containers it completes.
    for (;;) {
      if (depth == 0) return p_in = p, w_in = w, true;
      Open& t = stack[depth - 1];
      if (--t.left) {
        *w++ = ',';
        want_key = t.map;
        break;
      }
      *w++ = t.map ? '}' : ']';
      --depth;
    }
  }
}

}  // namespace

void append_json_string(std::string_view s, Buffer& out) {
  Writer o(out);
  o.string(s.data(), s.size(), s.data() + s.size());
  o.commit();
}

bool msgpack_to_json(const char** p, const char* end, Buffer& out) {
  size_t n = size_t(end - *p);
  if (n <= kFastBytes) {
    const uint8_t* q = reinterpret_cast<const uint8_t*>(*p);
    char* start = out.ensure(6 * n + 32);  // 32: the string copy's whole-vector stores
    char* w = start;
    if (fast_json(q, reinterpret_cast<const uint8_t*>(end), w)) {
      out.commit(size_t(w - start));
      *p = reinterpret_cast<const char*>(q);
      return true;
    }
  }
  return detail::msgpack_to_json_general(p, end, out);
}

// Iterative, with an explicit stack, so the writer and cursor stay in registers.
bool detail::msgpack_to_json_general(const char** p, const char* end, Buffer& out) {
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
