#include "common/signals.h"

#include <signal.h>

namespace pspf::tool {

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_stop(int sig) { g_stop = sig; }
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked read returns EINTR and we look at the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal() { return g_stop; }

const volatile std::sig_atomic_t* stop_flag() { return &g_stop; }

}  // namespace pspf::tool
