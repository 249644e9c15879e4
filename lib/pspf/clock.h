// The wall clock, for append timestamps, commit times and temporary names: a leaf
// that modules needing only the time include (not the partition code).
#pragma once

#include <cstdint>

#include "pspf/types.h"

namespace pspf {

// The wall clock in milliseconds since the epoch (a test hook may shift it).
Timestamp now_ms();
// Test hook: add `delta_ms` to what now_ms() returns (negative: the clock steps back).
void set_clock_skew_for_tests(int64_t delta_ms);

}  // namespace pspf
