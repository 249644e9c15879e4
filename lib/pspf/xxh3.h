// xxh3_64: the XXH3-64 of batches and frames (pspf-log(5)), through the widest vector
// unit of the CPU it runs on.
//
// The xxhash library pspf links is built for the x86-64 baseline, SSE2. XXH3 has the
// same value whatever unit computes it (xxhash's own contract; xxh3_test checks it on
// every length to 4 KB and on large inputs), and on this project's machine (AMD
// EPYC) it hashes 1 MB at 17 GB/s with SSE2, 47 with AVX2 and 65 with AVX-512. The
// checksums of a read-out or of a writer's check of its segment run at that speed.
// The unit is chosen once, at the first call, from what the CPU and the kernel
// enable (glibc's CPU_FEATURE_ACTIVE); elsewhere than x86-64 it is the library's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pspf {

// The vector units XXH3 can run on (xxh3.cpp chooses the widest the CPU has).
enum class Xxh3Unit { baseline, avx2, avx512 };

// XXH3-64 of n bytes at p with this seed (0: XXH3_64bits itself).
uint64_t xxh3_64(const void* p, size_t n, uint64_t seed = 0);

// XXH3-64 of bytes given in pieces: the value xxh3_64 gives them whole, through the
// same unit (a writer's check of its segment streams each 1 MB batch through a
// 256 KB buffer: the hash runs at the unit's speed, the buffer stays in the cache).
// `unit` is for tests (precondition: xxh3_unit_available(unit)).
class Xxh3Stream {
 public:
  explicit Xxh3Stream(uint64_t seed);
  Xxh3Stream(uint64_t seed, Xxh3Unit unit);
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;
  void update(const void* p, size_t n);
  uint64_t digest() const;

 private:
  struct Unit;
  const Unit* unit_;
  void* state_;  // XXH3_state_t, kept out of this header
};

// The units, for tests: whether this CPU can run each, and the hash through it.
bool xxh3_unit_available(Xxh3Unit u);
// Precondition: xxh3_unit_available(u).
uint64_t xxh3_64_with(Xxh3Unit u, const void* p, size_t n, uint64_t seed);
// The unit xxh3_64 uses.
Xxh3Unit xxh3_unit();

}  // namespace pspf
