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
void avx2_reset(void* state, unsigned long long seed);
void avx2_update(void* state, const void* p, size_t n);
unsigned long long avx2_digest(const void* state);
void avx512_reset(void* state, unsigned long long seed);
void avx512_update(void* state, const void* p, size_t n);
unsigned long long avx512_digest(const void* state);
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

// The stream's functions for one unit; all three from the same one.
struct Xxh3Stream::Unit {
  void (*reset)(void*, unsigned long long);
  void (*update)(void*, const void*, size_t);
  unsigned long long (*digest)(const void*);
};

namespace {

void baseline_reset(void* s, unsigned long long seed) {
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(s), seed);
}
void baseline_update(void* s, const void* p, size_t n) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(s), p, n);
}
unsigned long long baseline_digest(const void* s) {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(s));
}

}  // namespace

Xxh3Stream::Xxh3Stream(uint64_t seed) : Xxh3Stream(seed, xxh3_unit()) {}

Xxh3Stream::Xxh3Stream(uint64_t seed, Xxh3Unit unit) : state_(XXH3_createState()) {
  assert(xxh3_unit_available(unit));
  static const Unit baseline{baseline_reset, baseline_update, baseline_digest};
#ifdef PSPF_XXH3_DISPATCH
  static const Unit avx2{xxh3_units::avx2_reset, xxh3_units::avx2_update, xxh3_units::avx2_digest};
  static const Unit avx512{xxh3_units::avx512_reset, xxh3_units::avx512_update,
                           xxh3_units::avx512_digest};
  unit_ = unit == Xxh3Unit::avx512 ? &avx512 : unit == Xxh3Unit::avx2 ? &avx2 : &baseline;
#else
  unit_ = &baseline;
#endif
  if (!state_) throw std::bad_alloc();
  unit_->reset(state_, seed);
}

Xxh3Stream::~Xxh3Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Xxh3Stream::update(const void* p, size_t n) { unit_->update(state_, p, n); }

uint64_t Xxh3Stream::digest() const { return unit_->digest(state_); }

uint64_t xxh3_64_with(Xxh3Unit u, const void* p, size_t n, uint64_t seed) {
  assert(xxh3_unit_available(u));
  return hash_for(u)(p, n, seed);
}

}  // namespace pspf
