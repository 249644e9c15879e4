// Stop signals: SIGINT and SIGTERM set a flag instead of killing the process, so a
// command can finish the batch in hand and exit 128+signal with nothing half-done.
// Blocking reads are interrupted (no SA_RESTART) so the flag is seen promptly.
#pragma once

#include <csignal>

namespace pspf::tool {

void install_stop_handlers();
// The signal that asked us to stop, or 0.
int stop_signal();
// The flag itself, for library loops that poll it (LineReader).
const volatile std::sig_atomic_t* stop_flag();

}  // namespace pspf::tool
