#include "pspf/xxh3.h"

#include <xxhash.h>

#include <cassert>
#include <new>

#if defined(PSPF_XXH3_X86) && __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#define PSPF_XXH3_DISPATCH 1
#endif

namespace pspf {

#ifdef PSPF_XXH3_DISPATCH
namespace xxh3_units {  // xxh3_unit.cpp, once per unit
unsigned long long avx2(const void* p, size_t n, unsigned long long seed);
unsigned long long avx512(const void* p, size_t n, unsigned long long seed);
}  // namespace xxh3_units
#endif

namespace {

using Hash = uint64_t (*)(const void*, size_t, uint64_t);

uint64_t baseline(const void* p, size_t n, uint64_t seed) {
  return XXH3_64bits_withSeed(p, n, seed);
}

#ifdef PSPF_XXH3_DISPATCH
uint64_t with_avx2(const void* p, size_t n, uint64_t seed) { return xxh3_units::avx2(p, n, seed); }
uint64_t with_avx512(const void* p, size_t n, uint64_t seed) {
  return xxh3_units::avx512(p, n, seed);
}
#endif

Hash hash_for(Xxh3Unit u) {
  switch (u) {
#ifdef PSPF_XXH3_DISPATCH
    case Xxh3Unit::avx2: return with_avx2;
    case Xxh3Unit::avx512: return with_avx512;
#endif
    default: return baseline;
  }
}

Xxh3Unit best_unit() {
  if (xxh3_unit_available(Xxh3Unit::avx512)) return Xxh3Unit::avx512;
  if (xxh3_unit_available(Xxh3Unit::avx2)) return Xxh3Unit::avx2;
  return Xxh3Unit::baseline;
}

}  // namespace

bool xxh3_unit_available(Xxh3Unit u) {
  switch (u) {
    case Xxh3Unit::baseline: return true;
#ifdef PSPF_XXH3_DISPATCH
    // Active: the CPU has it and the kernel saves its registers.
    case Xxh3Unit::avx2: return CPU_FEATURE_ACTIVE(AVX2);
    case Xxh3Unit::avx512: return CPU_FEATURE_ACTIVE(AVX512F);
#endif
    default: return false;
  }
}

Xxh3Unit xxh3_unit() {
  static const Xxh3Unit unit = best_unit();
  return unit;
}

uint64_t xxh3_64(const void* p, size_t n, uint64_t seed) {
  static const Hash hash = hash_for(xxh3_unit());
  return hash(p, n, seed);
}

Xxh3Stream::Xxh3Stream(uint64_t seed) : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(state_), seed);
}

Xxh3Stream::~Xxh3Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Xxh3Stream::update(const void* p, size_t n) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), p, n);
}

uint64_t Xxh3Stream::digest() const {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_));
}

uint64_t xxh3_64_with(Xxh3Unit u, const void* p, size_t n, uint64_t seed) {
  assert(xxh3_unit_available(u));
  return hash_for(u)(p, n, seed);
}

}  // namespace pspf
