// Little-endian fixed-width fields in byte buffers, as every on-disk structure of
// pspf lays them out (pspf-log(5)); every target here is little-endian, so these are
// plain copies that never read or write unaligned through a typed pointer.
#pragma once

#include <cstring>
#include <string>

namespace pspf::le {

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void store(char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// Appends v to s.
template <typename T>
void append(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace pspf::le
