// KeyTable: values by key, where keys are stored as their 128-bit XXH3 hash, not
// their bytes, in one open-addressing table: memory grows with the number of distinct
// keys (16 bytes of hash plus the value, at most twice over), never with the size of
// the log or of the keys. Two keys with the same 128-bit hash would be taken for one
// (about 2^-100 for a million keys).
//
// KeyMap: the latest offset of each key, for compaction and the latest-per-key view.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <xxhash.h>

#include "pspf/types.h"

namespace pspf {

using KeyHash = XXH128_hash_t;

// The hash a KeyTable knows `key` by. (Never 0: an empty slot holds 0.)
inline KeyHash key_hash(std::string_view key) {
  KeyHash h = XXH3_128bits(key.data(), key.size());
  if (h.low64 == 0 && h.high64 == 0) h.high64 = 1;
  return h;
}

template <typename V>
class KeyTable {
 public:
  KeyTable() { slots_.resize(1024); }

  // The value of key hash h, or null when h was never given to operator[].
  const V* find(KeyHash h) const {
    size_t mask = slots_.size() - 1;
    for (size_t i = h.low64 & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.free()) return nullptr;
      if (s.lo == h.low64 && s.hi == h.high64) return &s.value;
    }
  }
  V* find(KeyHash h) { return const_cast<V*>(std::as_const(*this).find(h)); }

  // The value of key hash h, value-initialised the first time.
  V& operator[](KeyHash h) {
    if ((size_ + 1) * 2 > slots_.size()) grow();  // (first: the slot found stays put)
    size_t mask = slots_.size() - 1;
    for (size_t i = h.low64 & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.free()) {
        s.lo = h.low64;
        s.hi = h.high64;
        ++size_;
        return s.value;
      }
      if (s.lo == h.low64 && s.hi == h.high64) return s.value;
    }
  }

  size_t size() const { return size_; }

  // Calls f(value) for every key's value, in no particular order.
  template <typename F>
  void for_each(F f) const {
    for (const Slot& s : slots_)
      if (!s.free()) f(s.value);
  }

 private:
  struct Slot {
    uint64_t lo = 0;
    uint64_t hi = 0;
    V value{};
    bool free() const { return lo == 0 && hi == 0; }
  };

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.free()) continue;
      size_t i = s.lo & mask;
      while (!slots_[i].free()) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

class KeyMap {
 public:
  // Records that `key` was seen at offset `o` (later calls win).
  void put(std::string_view key, Offset o) { put(key_hash(key), o); }
  void put(KeyHash h, Offset o) { offsets_[h] = o.value; }
  // The offset last put for `key`, or -1.
  int64_t get(std::string_view key) const { return get(key_hash(key)); }
  int64_t get(KeyHash h) const {
    const int64_t* o = offsets_.find(h);
    return o ? *o : -1;
  }
  size_t size() const { return offsets_.size(); }

 private:
  KeyTable<int64_t> offsets_;
};

}  // namespace pspf
