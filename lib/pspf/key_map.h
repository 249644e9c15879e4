// KeyMap: the latest offset of each key, for compaction and the latest-per-key view.
// Keys are stored as their 128-bit XXH3 hash, not their bytes, in one open-addressing
// table: memory grows with the number of distinct keys (24 bytes each at most twice
// over), never with the size of the log or of the keys. Two keys with the same
// 128-bit hash would be taken for one (about 2^-100 for a million keys).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <xxhash.h>

#include "pspf/types.h"

namespace pspf {

class KeyMap {
 public:
  KeyMap() { slots_.resize(1024); }

  // Records that `key` was seen at offset `o` (later calls win).
  void put(std::string_view key, Offset o) {
    Slot& s = find(XXH3_128bits(key.data(), key.size()));
    if (s.offset < 0) {
      ++size_;
      if (size_ * 2 > slots_.size()) {
        grow();
        find(XXH3_128bits(key.data(), key.size())).offset = o.value;
        return;
      }
    }
    s.offset = o.value;
  }
  // The offset last put for `key`, or -1.
  int64_t get(std::string_view key) const {
    XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
    size_t mask = slots_.size() - 1;
    for (size_t i = h.low64 & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.offset < 0) return -1;
      if (s.lo == h.low64 && s.hi == h.high64) return s.offset;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t lo = 0;
    uint64_t hi = 0;
    int64_t offset = -1;  // -1: empty
  };

  // The slot of hash h: its own, or the empty one where it belongs (hash stored).
  Slot& find(XXH128_hash_t h) {
    size_t mask = slots_.size() - 1;
    for (size_t i = h.low64 & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.offset < 0) {
        s.lo = h.low64;
        s.hi = h.high64;
        return s;
      }
      if (s.lo == h.low64 && s.hi == h.high64) return s;
    }
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.offset < 0) continue;
      size_t i = s.lo & mask;
      while (slots_[i].offset >= 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace pspf
