#include "pspf/murmur2.h"

#include <bit>
#include <cassert>

#include "pspf/le.h"

namespace pspf {

int32_t murmur2(std::string_view data) {
  // Java does this arithmetic on signed ints with wrap-around; unsigned gives the
  // same bits without undefined behaviour.
  const uint32_t seed = 0x9747b28cu;
  const uint32_t m = 0x5bd1e995u;
  const int r = 24;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t length = data.size();
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  for (size_t i = 0; i < length4; i++) {
    const size_t i4 = i * 4;
    uint32_t k = le::load<uint32_t>(data.data() + i4);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  // Java's switch falls through from the highest remaining byte.
  const size_t tail = length & ~size_t(3);
  switch (length % 4) {
    case 3: h ^= uint32_t(bytes[tail + 2]) << 16; [[fallthrough]];
    case 2: h ^= uint32_t(bytes[tail + 1]) << 8; [[fallthrough]];
    case 1: h ^= uint32_t(bytes[tail]); h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return std::bit_cast<int32_t>(h);
}

PartitionId partition_for_key(std::string_view key, int32_t partitions) {
  assert(partitions > 0);
  uint32_t positive = static_cast<uint32_t>(murmur2(key)) & 0x7fffffffu;
  return PartitionId(static_cast<int32_t>(positive % static_cast<uint32_t>(partitions)));
}

}  // namespace pspf
