// Damage helpers shared by the unit tests (after LevelDB's log_test: IncrementByte,
// ShrinkSize, FixChecksum, WriteAt). They work on a file's bytes held in a string, so
// a test keeps one pristine copy and writes each damaged variant over the file.
#pragma once

#include <xxhash.h>

#include <cassert>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "pspf/le.h"

namespace pspf::test {

// The whole content of `path` ("" when it does not exist).
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Replaces the content of `path` with `bytes` (creating it).
inline void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  assert(out.good());
}

// The first `length` bytes (a file cut at `length`).
inline std::string cut_at(std::string_view bytes, size_t length) {
  assert(length <= bytes.size());
  return std::string(bytes.substr(0, length));
}

// `bytes` less its last `n` bytes.
inline std::string shrink_size(std::string_view bytes, size_t n) {
  assert(n <= bytes.size());
  return cut_at(bytes, bytes.size() - n);
}

// `bytes` with bit `bit` (counted from bit 0 of byte 0) inverted.
inline std::string flip_bit(std::string bytes, size_t bit) {
  assert(bit / 8 < bytes.size());
  bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1u << (bit % 8)));
  return bytes;
}

// `bytes` with the byte at `at` increased by `delta` (wrapping).
inline std::string increment_byte(std::string bytes, size_t at, int delta = 1) {
  assert(at < bytes.size());
  bytes[at] = static_cast<char>(static_cast<uint8_t>(bytes[at]) + delta);
  return bytes;
}

// `bytes` with `with` written over it at `at`, growing it when `with` reaches past
// its end.
inline std::string write_at(std::string bytes, size_t at, std::string_view with) {
  if (bytes.size() < at + with.size()) bytes.resize(at + with.size(), '\0');
  bytes.replace(at, with.size(), with);
  return bytes;
}

// `bytes` followed by `n` zero bytes (a preallocated or zero-filled tail).
inline std::string zero_tail(std::string bytes, size_t n) {
  bytes.append(n, '\0');
  return bytes;
}

// Rewrites the checksum of the 16-byte-header frame at `pos` (u32 magic, u32 payload
// length, u64 XXH3-64 of the payload) to match its payload, so a damaged payload
// reaches the checks behind the checksum. `seed_with_length`: the checksum is
// seeded with the payload length (removed-keys) rather than 0 (offsets.log).
inline std::string fix_frame_checksum(std::string bytes, size_t pos, bool seed_with_length) {
  uint32_t len = le::load<uint32_t>(bytes.data() + pos + 4);
  assert(pos + 16 + len <= bytes.size());
  uint64_t sum = XXH3_64bits_withSeed(bytes.data() + pos + 16, len, seed_with_length ? len : 0);
  le::store<uint64_t>(bytes.data() + pos + 8, sum);
  return bytes;
}

// True when `message` names byte `pos` ("at byte <pos>" not followed by a digit).
inline bool names_byte(const std::string& message, uint64_t pos) {
  std::string needle = "at byte " + std::to_string(pos);
  for (size_t at = message.find(needle); at != std::string::npos;
       at = message.find(needle, at + 1)) {
    size_t after = at + needle.size();
    if (after == message.size() || message[after] < '0' || message[after] > '9') return true;
  }
  return false;
}

}  // namespace pspf::test
