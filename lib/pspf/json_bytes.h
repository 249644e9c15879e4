// Byte helpers shared by the two directions of the JSON codec (json_codec.h);
// internal to lib/pspf, not part of the library's interface.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "pspf/le.h"

namespace pspf::json_detail {

// Plain copies of a word, the same as every fixed-width field of pspf.
using le::load;
using le::store;

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

// The 8 decimal digits of x < 10^8, most significant first, one per byte (0 to 9)
// of a little-endian word: the two halves of 4 digits, their halves of 2, and those
// digits, split in all lanes at once (each quotient by a multiply and shift that is
// exact in its range: y * 10486 >> 20 is y / 100 below 43,699, y * 103 >> 10 is
// y / 10 below 179).
inline uint64_t decimal8(uint64_t x) {
  uint64_t m = (x / 10000) | ((x % 10000) << 32);
  uint64_t h = ((m * 10486) >> 20) & 0x0000007F0000007F;
  m = h | ((m - 100 * h) << 16);
  uint64_t t = ((m * 103) >> 10) & 0x000F000F000F000F;
  return t | ((m - 10 * t) << 8);
}

// Writes v in decimal at w and returns the end, as std::to_chars does, 8 digits a
// step instead of fmt's 2 (a 13-digit timestamp in 3 multiplies, not 6 divisions).
// Little-endian only; room for 24 bytes at w (whole words are stored).
inline char* write_decimal(char* w, uint64_t v) {
  static_assert(std::endian::native == std::endian::little);
  constexpr uint64_t k8 = 100000000, zeros = 0x3030303030303030;
  uint64_t head = v, mid = 0, low = 0;
  int words = 0;  // full 8-digit words after the head
  if (v >= k8) {
    low = v % k8, head = v / k8, words = 1;
    if (head >= k8) mid = head % k8, head /= k8, words = 2;
  }
  uint64_t d = decimal8(head);
  int skip = d ? std::countr_zero(d) / 8 : 7;  // the head's leading zeros (v = 0 keeps one)
  store(w, (d >> (8 * skip)) | zeros);
  w += 8 - skip;
  if (words == 2) store(w, decimal8(mid) | zeros), w += 8;
  if (words >= 1) store(w, decimal8(low) | zeros), w += 8;
  return w;
}
inline char* write_decimal(char* w, int64_t v) {
  if (v >= 0) return write_decimal(w, uint64_t(v));
  *w = '-';
  return write_decimal(w + 1, 0 - uint64_t(v));
}

// Four hex digits at p (before e) as a number, or -1 (a \u escape).
inline int32_t hex4(const char* p, const char* e) {
  if (e - p < 4) return -1;
  int32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    char c = p[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return -1;
    v = v << 4 | d;
  }
  return v;
}

// The length of the UTF-8 sequence at p (a lead byte >= 0x80), or 0 when it is not
// a valid one (overlong, a surrogate, beyond U+10FFFF, cut short).
inline size_t utf8_length(const unsigned char* p, const unsigned char* e) {
  unsigned char c = p[0];
  size_t n = c >= 0xc2 && c <= 0xdf   ? 2
             : c >= 0xe0 && c <= 0xef ? 3
             : c >= 0xf0 && c <= 0xf4 ? 4
                                      : 0;
  if (n == 0 || size_t(e - p) < n) return 0;
  for (size_t i = 1; i < n; ++i)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (c == 0xe0 && p[1] < 0xa0) return 0;   // overlong
  if (c == 0xed && p[1] >= 0xa0) return 0;  // a surrogate
  if (c == 0xf0 && p[1] < 0x90) return 0;   // overlong
  if (c == 0xf4 && p[1] >= 0x90) return 0;  // beyond U+10FFFF
  return n;
}

// True when `s` matches RFC 8259's number grammar exactly.
inline bool is_json_number(std::string_view s) {
  size_t i = 0, n = s.size();
  auto digits = [&] {
    size_t b = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > b;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0')
    ++i;
  else if (i >= n || s[i] < '1' || s[i] > '9' || !digits())
    return false;
  if (i < n && s[i] == '.' && (++i, !digits())) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

}  // namespace pspf::json_detail
