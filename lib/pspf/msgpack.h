// MessagePack: the one module that knows its bytes. Every MessagePack value the
// project writes or reads (record fields of a batch, producer marks, headers,
// envelopes, JSON values, tombstones) goes through these functions; no other file
// names a MessagePack tag byte.
//
// Writing uses msgpack-cxx's packer over a Buffer, so the format choices are the
// packer's: the smallest int, fixstr/str8/16/32, fixmap/map16/32, fixarray/
// array16/32, bin8/16/32, fixext/ext8/16/32. Two exceptions keep the bytes that
// pspf has always written (see msgpack_put_batch_uint and msgpack_put_float64).
//
// Reading uses msgpack-cxx's visitor parser (msgpack::detail::context) with a
// parser reused per thread, so a read allocates nothing. Every reader:
//   - never reads outside [*p, end);
//   - refuses malformed or truncated bytes (returns false, *p unchanged);
//   - refuses values past the limits below, so hostile bytes cannot make it use
//     memory beyond a small bound: nesting deeper than kMsgpackMaxDepth (the parser
//     keeps one stack entry per level), a str, bin or ext longer than
//     kMsgpackMaxLength bytes, an array or map with more than kMsgpackMaxLength
//     elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "pspf/buffer.h"

namespace pspf {

// Deepest nesting of arrays and maps that msgpack_to_json accepts (the JSON
// converter refuses deeper input, so pspf never writes deeper values).
inline constexpr uint32_t kMsgpackMaxDepth = 1000;
// Deepest nesting msgpack_skip accepts: more than anything pspf writes, bounded so
// that the parser's stack (8 bytes a level) stays under 1 MiB.
inline constexpr uint32_t kMsgpackMaxSkipDepth = 100000;
// Longest str/bin/ext, and most elements of an array or map: a value never
// exceeds its batch (kMaxBatchBytes).
inline constexpr uint32_t kMsgpackMaxLength = 256u << 20;

// ---- writing -------------------------------------------------------------------------

void msgpack_put_nil(Buffer& b);
void msgpack_put_bool(Buffer& b, bool v);
// The smallest int form that holds v (positive values take the uint forms).
void msgpack_put_int(Buffer& b, int64_t v);
// The smallest uint form that holds v.
void msgpack_put_uint(Buffer& b, uint64_t v);
// Positive fixint below 128, else uint16, uint32 or uint64, never uint8: the form of
// batch offset deltas and producer mark sequence numbers since format PSB1, kept so
// that the bytes on disk do not change.
void msgpack_put_batch_uint(Buffer& b, uint64_t v);
// Always float64 (the packer's pack_double would write 1.0 as the int 1, and JSON's
// "1.0" must come back as 1.0).
void msgpack_put_float64(Buffer& b, double v);
// str header and bytes. Precondition: s.size() < 2^32.
void msgpack_put_str(Buffer& b, std::string_view s);
void msgpack_put_bin_header(Buffer& b, size_t n);
// ext of `type` holding `payload` (fixext for 1, 2, 4, 8, 16 bytes).
void msgpack_put_ext(Buffer& b, int8_t type, std::string_view payload);
void msgpack_put_map_header(Buffer& b, uint32_t n);
void msgpack_put_array_header(Buffer& b, uint32_t n);
// A map of strings, in the order given.
void msgpack_put_string_map(Buffer& b,
                            std::span<const std::pair<std::string_view, std::string_view>> kv);

// A container whose element count is known only at its end: msgpack_open_container
// writes a one-byte placeholder and returns its position; msgpack_close_map/array
// turn it into the header for n entries (elements), moving the body up by 2 or 4
// bytes for the rare container of 16 or more. They return false (changing nothing)
// when n does not fit in 32 bits.
size_t msgpack_open_container(Buffer& b);
bool msgpack_close_map(Buffer& b, size_t at, size_t n);
bool msgpack_close_array(Buffer& b, size_t at, size_t n);

// The bytes msgpack_put_batch_uint, msgpack_put_str and msgpack_put_bin_header write
// (inline: a producer sizes every record before adding it).
inline size_t msgpack_batch_uint_size(uint64_t v) {
  return v < 128 ? 1 : v <= 0xffff ? 3 : v <= 0xffffffff ? 5 : 9;
}
inline size_t msgpack_str_size(size_t n) {
  return (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5) + n;
}
inline size_t msgpack_bin_header_size(size_t n) { return n < 256 ? 2 : n < 65536 ? 3 : 5; }

// ---- reading -------------------------------------------------------------------------
// Each reads one value at *p and advances *p past it; on false *p is unchanged.
//
// A batch's records are read with the msgpack_get_* below, six items a record. As
// calls into msgpack.cpp they took a fifth of pspf-replay's instructions (callgrind,
// 100k inventory events: 36 M of 166 M), so the forms that pspf writes for record
// fields (short str, bin8, uints up to 32 bits, fixarray) are read inline here, and
// every other form by the functions of msgpack_detail, which read all of them.

namespace msgpack_detail {
bool get_str(const char** p, const char* end, std::string_view& out);
bool get_bin(const char** p, const char* end, std::string_view& out);
bool get_uint(const char** p, const char* end, uint64_t& out);
bool get_int(const char** p, const char* end, int64_t& out);
bool get_map_header(const char** p, const char* end, uint32_t& out);
bool get_array_header(const char** p, const char* end, uint32_t& out);

// A positive fixint, uint8, uint16 or uint32 at *p, when it is all there.
inline bool get_small_uint(const char** p, const char* end, uint64_t& out) {
  const auto* q = reinterpret_cast<const unsigned char*>(*p);
  size_t left = static_cast<size_t>(end - *p);
  if (left == 0) return false;
  if (q[0] < 0x80) return out = q[0], *p += 1, true;
  if (q[0] == 0xcd && left >= 3) return out = uint64_t(q[1]) << 8 | q[2], *p += 3, true;
  if (q[0] == 0xcc && left >= 2) return out = q[1], *p += 2, true;
  if (q[0] == 0xce && left >= 5)
    return out = uint64_t(q[1]) << 24 | uint64_t(q[2]) << 16 | uint64_t(q[3]) << 8 | q[4], *p += 5,
           true;
  return false;
}
}  // namespace msgpack_detail

// A str, or a bin: its bytes.
inline bool msgpack_get_str(const char** p, const char* end, std::string_view& out) {
  if (*p != end) {  // fixstr
    auto b = static_cast<unsigned char>(**p);
    size_t n = b & 0x1fu;
    if ((b & 0xe0u) == 0xa0u && static_cast<size_t>(end - *p) > n)
      return out = {*p + 1, n}, *p += 1 + n, true;
  }
  return msgpack_detail::get_str(p, end, out);
}
// A bin only.
inline bool msgpack_get_bin(const char** p, const char* end, std::string_view& out) {
  if (end - *p >= 2 && static_cast<unsigned char>(**p) == 0xc4) {  // bin8
    size_t n = static_cast<unsigned char>((*p)[1]);
    if (static_cast<size_t>(end - *p) - 2 >= n) return out = {*p + 2, n}, *p += 2 + n, true;
  }
  return msgpack_detail::get_bin(p, end, out);
}
// Any int form holding a value in [0, 2^64).
inline bool msgpack_get_uint(const char** p, const char* end, uint64_t& out) {
  return msgpack_detail::get_small_uint(p, end, out) || msgpack_detail::get_uint(p, end, out);
}
// Any int form holding a value in [-2^63, 2^63).
inline bool msgpack_get_int(const char** p, const char* end, int64_t& out) {
  uint64_t u;
  if (msgpack_detail::get_small_uint(p, end, u)) return out = static_cast<int64_t>(u), true;
  return msgpack_detail::get_int(p, end, out);
}
// A nil (one form: the byte 0xc0).
inline bool msgpack_get_nil(const char** p, const char* end) {
  return *p != end && static_cast<unsigned char>(**p) == 0xc0 && (++*p, true);
}
// The header of a map (out: its entry count) or of an array (out: its element
// count); the entries follow at *p.
inline bool msgpack_get_map_header(const char** p, const char* end, uint32_t& out) {
  if (*p != end && (static_cast<unsigned char>(**p) & 0xf0u) == 0x80u)  // fixmap
    return out = static_cast<unsigned char>(*(*p)++) & 0x0fu, true;
  return msgpack_detail::get_map_header(p, end, out);
}
inline bool msgpack_get_array_header(const char** p, const char* end, uint32_t& out) {
  if (*p != end && (static_cast<unsigned char>(**p) & 0xf0u) == 0x90u)  // fixarray
    return out = static_cast<unsigned char>(*(*p)++) & 0x0fu, true;
  return msgpack_detail::get_array_header(p, end, out);
}
// One whole value of any kind, nested at most kMsgpackMaxSkipDepth deep.
bool msgpack_skip(const char** p, const char* end);

// True when `v` is exactly one nil: a tombstone's value.
bool msgpack_is_nil(std::string_view v);
// True when `m` is exactly one map whose keys and values are all str (or bin, as
// msgpack_get_str reads them).
bool msgpack_is_string_map(std::string_view m);
// Appends the entries of `m` (views into it) to `out`; false (out unchanged) unless
// msgpack_is_string_map(m).
bool msgpack_read_string_map(std::string_view m,
                             std::vector<std::pair<std::string_view, std::string_view>>& out);

}  // namespace pspf
