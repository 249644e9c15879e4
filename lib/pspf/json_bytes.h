// Byte helpers shared by the two directions of the JSON codec (json_codec.h);
// internal to lib/pspf, not part of the library's interface.
#pragma once

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
