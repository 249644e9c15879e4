// Drives msgpack-cxx's visitor parser over one MessagePack value, with the limits of
// msgpack.h. Internal to lib/pspf (msgpack.cpp and the JSON writer of
// msgpack_to_json.cpp): the one place where the parser is set up.
//
// A visitor has msgpack-cxx's callbacks, except that visit_ext gets the type apart:
//   visit_nil() visit_boolean(b) visit_positive_integer(u64) visit_negative_integer(i64)
//   visit_float32(f) visit_float64(d) visit_str(p, n) visit_bin(p, n)
//   visit_ext(type, p, n) start_array(n) start_array_item() end_array_item() end_array()
//   start_map(n) start_map_key() end_map_key() start_map_value() end_map_value() end_map()
// Each returns false to stop the parse there. (visit_negative_integer also gets the
// int8..int64 forms of non-negative values.)
#pragma once

#include <msgpack/pack.hpp>
#include <msgpack/parse.hpp>
#include <msgpack/unpack.hpp>  // the load helpers the parser uses

#include <cstddef>
#include <cstdint>

#include "pspf/json_bytes.h"
#include "pspf/msgpack.h"

namespace pspf::msgpack_detail {

// ---- writing, inline for the JSON converter's hot loop ---------------------------------

// A packer sink over bytes already reserved: the packer writes straight into them.
struct Patch {
  char* w;
  void write(const char* p, size_t n) { std::memcpy(w, p, n), w += n; }
};

// msgpack_put_str. The packer writes the header into reserved room and the short
// strings of events are copied inline: out of line, through Buffer::write, pspf-produce
// took 6% more instructions than the hand-written encoder it replaced
// (callgrind, 100k events: 337.9 M before, 358.1 M out of line, 340.9 M inline).
inline void put_str(Buffer& b, std::string_view s) {
  size_t n = s.size();
  char* w = b.ensure(n + 5);
  Patch sink{w};
  msgpack::packer<Patch>(sink).pack_str(static_cast<uint32_t>(n));
  json_detail::copy_bytes(sink.w, s.data(), n);
  b.commit(static_cast<size_t>(sink.w + n - w));
}

// msgpack_put_int.
inline void put_int(Buffer& b, int64_t v) {
  char* w = b.ensure(9);
  Patch sink{w};
  msgpack::packer<Patch>(sink).pack_int64(v);
  b.commit(static_cast<size_t>(sink.w - w));
}

// Forwards every event to V, stopping at what breaks a limit (V then never sees it).
template <class V>
struct Limited {
  V* v;
  uint32_t max_depth;
  uint32_t depth;
  bool limit_hit;

  bool refuse() { return limit_hit = true, false; }
  void init() {}
  bool visit_nil() { return v->visit_nil(); }
  bool visit_boolean(bool b) { return v->visit_boolean(b); }
  bool visit_positive_integer(uint64_t u) { return v->visit_positive_integer(u); }
  bool visit_negative_integer(int64_t i) { return v->visit_negative_integer(i); }
  bool visit_float32(float f) { return v->visit_float32(f); }
  bool visit_float64(double d) { return v->visit_float64(d); }
  bool visit_str(const char* s, uint32_t n) {
    return n <= kMsgpackMaxLength ? v->visit_str(s, n) : refuse();
  }
  bool visit_bin(const char* s, uint32_t n) {
    return n <= kMsgpackMaxLength ? v->visit_bin(s, n) : refuse();
  }
  // msgpack-cxx passes the type byte and the payload together (n counts both).
  bool visit_ext(const char* s, uint32_t n) {
    if (n == 0 || n - 1 > kMsgpackMaxLength) return refuse();
    return v->visit_ext(static_cast<int8_t>(s[0]), s + 1, n - 1);
  }
  bool start_array(uint32_t n) {
    if (n > kMsgpackMaxLength || ++depth > max_depth) return refuse();
    return v->start_array(n);
  }
  bool start_array_item() { return v->start_array_item(); }
  bool end_array_item() { return v->end_array_item(); }
  bool end_array() { return --depth, v->end_array(); }
  bool start_map(uint32_t n) {
    if (n > kMsgpackMaxLength || ++depth > max_depth) return refuse();
    return v->start_map(n);
  }
  bool start_map_key() { return v->start_map_key(); }
  bool end_map_key() { return v->end_map_key(); }
  bool start_map_value() { return v->start_map_value(); }
  bool end_map_value() { return v->end_map_value(); }
  bool end_map() { return --depth, v->end_map(); }
  void parse_error(size_t, size_t) {}
  void insufficient_bytes(size_t, size_t) {}
  bool referenced() const { return false; }
  void set_referenced(bool) {}
};

// The parser and its visitor. One per thread and visitor type, reused: its stack
// keeps its capacity, so parsing allocates nothing once it has seen the deepest value.
template <class V>
struct Holder : msgpack::detail::context<Holder<V>> {
  Limited<V> limited{};
  Limited<V>& visitor() { return limited; }
};

enum class Outcome {
  done,     // one whole value parsed
  stopped,  // the visitor returned false (not for a limit)
  failed,   // malformed, truncated, or past a limit
};

// Parses from *p, not past end, until one value is complete or the visitor stops.
// On done and stopped, *p moves past the bytes consumed (for stopped: up to and
// including the item whose callback returned false: a scalar, or a container's
// header); on failed it stays.
template <class V>
inline Outcome visit(const char** p, const char* end, V& v, uint32_t max_depth) {
  thread_local Holder<V> h;
  h.limited = {&v, max_depth, 0, false};
  h.init();  // the last parse may have stopped halfway
  size_t off = 0;
  msgpack::parse_return r = h.execute(*p, static_cast<size_t>(end - *p), off);
  if (r == msgpack::PARSE_SUCCESS) return *p += off, Outcome::done;
  // On a stop, msgpack-cxx (v3) leaves `off` at the last byte of the item.
  if (r == msgpack::PARSE_STOP_VISITOR && !h.limited.limit_hit)
    return *p += off + 1, Outcome::stopped;
  return Outcome::failed;
}

// A visitor that refuses everything; derive and override what you accept.
struct RefuseAll {
  bool visit_nil() { return false; }
  bool visit_boolean(bool) { return false; }
  bool visit_positive_integer(uint64_t) { return false; }
  bool visit_negative_integer(int64_t) { return false; }
  bool visit_float32(float) { return false; }
  bool visit_float64(double) { return false; }
  bool visit_str(const char*, uint32_t) { return false; }
  bool visit_bin(const char*, uint32_t) { return false; }
  bool visit_ext(int8_t, const char*, uint32_t) { return false; }
  bool start_array(uint32_t) { return false; }
  bool start_array_item() { return true; }
  bool end_array_item() { return true; }
  bool end_array() { return true; }
  bool start_map(uint32_t) { return false; }
  bool start_map_key() { return true; }
  bool end_map_key() { return true; }
  bool start_map_value() { return true; }
  bool end_map_value() { return true; }
  bool end_map() { return true; }
};

// ---- the hand-written fast path ------------------------------------------------------
// msgpack-cxx's parser costs about 90-180 instructions an item (its state machine
// keeps its cursor in memory and its stack in a std::vector, and every call sets it
// up anew). On the two hot read paths that doubled the work: callgrind, 100k events
// like {"sku":"sku-123","qty":7,"kind":"restock","warehouse":"w1"}:
//   pspf-replay          155.7 M instructions before, 311.1 M with the parser
//   pspf-replay -J       287.3 M                      442.7 M
//   pspf-consume -e      156.6 M                      312.6 M
// So the record fields (msgpack_get_* in msgpack.cpp) and msgpack_to_json read
// headers with read_item below instead; everything else (skip, string maps, tombstones)
// goes through msgpack-cxx. Every read is checked against `end` first.

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
[[gnu::always_inline]] inline bool read_item_unchecked(Cursor& c, Item& it) {
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
    case 0xc2:
    case 0xc3: return it = {Kind::boolean, 0, b & 1u}, true;
    case 0xc4:
    case 0xc5:
    case 0xc6: return sized(Kind::bin, 1 << (b - 0xc4)) && c.left() >= it.n;
    case 0xc7:
    case 0xc8:
    case 0xc9:
      if (!sized(Kind::ext, 1 << (b - 0xc7)) || !read_be(c, 1, v)) return false;
      return it.ext_type = int8_t(v), c.left() >= it.n;
    case 0xca: return sized(Kind::f32, 4);
    case 0xcb: return sized(Kind::f64, 8);
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: return sized(Kind::uint, 1 << (b - 0xcc));
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
      int bits = 8 << (b - 0xd0);
      if (!sized(Kind::sint, bits / 8)) return false;
      return it.n = uint64_t(int64_t(it.n << (64 - bits)) >> (64 - bits)), true;  // sign
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      if (!read_be(c, 1, v)) return false;
      return it = {Kind::ext, int8_t(v), uint64_t(1) << (b - 0xd4)}, c.left() >= it.n;
    case 0xd9:
    case 0xda:
    case 0xdb: return sized(Kind::str, 1 << (b - 0xd9)) && c.left() >= it.n;
    case 0xdc:
    case 0xdd: return sized(Kind::array, 2 << (b - 0xdc));
    case 0xde:
    case 0xdf: return sized(Kind::map, 2 << (b - 0xde));
    default: return false;  // 0xc1 is never used
  }
}

// read_item_unchecked within the limits of msgpack.h: a str, bin or ext longer than
// kMsgpackMaxLength, or an array or map with more elements, is refused.
[[gnu::always_inline]] inline bool read_item(Cursor& c, Item& it) {
  return read_item_unchecked(c, it) && (it.kind < Kind::str || it.n <= kMsgpackMaxLength);
}

}  // namespace pspf::msgpack_detail
