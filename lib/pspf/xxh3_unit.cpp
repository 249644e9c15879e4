// XXH3-64 for one vector unit (see xxh3.h). lib/meson.build compiles this file once
// per unit, with that unit's -m flag, PSPF_XXH3_UNIT (the function's name) and
// PSPF_XXH3_VECTOR (xxhash's XXH_VECTOR). Only xxhash's own static functions are in
// it: nothing compiled for the unit can be shared with, or chosen by the linker for,
// code that runs on a CPU without it.
#define XXH_INLINE_ALL
#define XXH_VECTOR PSPF_XXH3_VECTOR
#include <xxhash.h>

#define PSPF_XXH3_NAME2(unit, what) unit##_##what
#define PSPF_XXH3_NAME(unit, what) PSPF_XXH3_NAME2(unit, what)

namespace pspf::xxh3_units {
unsigned long long PSPF_XXH3_UNIT(const void* p, size_t n, unsigned long long seed) {
  return XXH3_64bits_withSeed(p, n, seed);
}
// A stream (Xxh3Stream): `state` is an XXH3_state_t of the library's (the same
// header, so the same layout), reset, fed and finished here alone.
void PSPF_XXH3_NAME(PSPF_XXH3_UNIT, reset)(void* state, unsigned long long seed) {
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(state), seed);
}
void PSPF_XXH3_NAME(PSPF_XXH3_UNIT, update)(void* state, const void* p, size_t n) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state), p, n);
}
unsigned long long PSPF_XXH3_NAME(PSPF_XXH3_UNIT, digest)(const void* state) {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state));
}
}  // namespace pspf::xxh3_units
