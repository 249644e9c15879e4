#include "pspf/clock.h"

#include <atomic>
#include <chrono>

namespace pspf {
namespace {
std::atomic<int64_t> g_clock_skew{0};
}  // namespace

Timestamp now_ms() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return Timestamp(std::chrono::duration_cast<std::chrono::milliseconds>(now).count() +
                   g_clock_skew.load());
}

void set_clock_skew_for_tests(int64_t delta_ms) { g_clock_skew = delta_ms; }

}  // namespace pspf
