// XXH3-64 for one vector unit (see xxh3.h). lib/meson.build compiles this file once
// per unit, with that unit's -m flag, PSPF_XXH3_UNIT (the function's name) and
// PSPF_XXH3_VECTOR (xxhash's XXH_VECTOR). Only xxhash's own static functions are in
// it: nothing compiled for the unit can be shared with, or chosen by the linker for,
// code that runs on a CPU without it.
#define XXH_INLINE_ALL
#define XXH_VECTOR PSPF_XXH3_VECTOR
#include <xxhash.h>

namespace pspf::xxh3_units {
unsigned long long PSPF_XXH3_UNIT(const void* p, size_t n, unsigned long long seed) {
  return XXH3_64bits_withSeed(p, n, seed);
}
}  // namespace pspf::xxh3_units
