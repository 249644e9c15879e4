// quiet_thread: a std::thread that leaves SIGINT and SIGTERM to the threads that
// already run. The tools catch those signals to stop reading (tools/common/signals.h):
// the handler must interrupt the main thread's blocked read(), which it does only if
// the signal is delivered to that thread and not to a helper (a sync or append thread).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

namespace pspf {

template <typename F>
std::thread quiet_thread(F&& f) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  // A new thread inherits the mask of the thread that creates it.
  pthread_sigmask(SIG_BLOCK, &block, &old);
  std::thread t;
  try {
    t = std::thread(std::forward<F>(f));
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

}  // namespace pspf
