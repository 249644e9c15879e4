#include "common/tool.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/output.h"
#include "pspf/error.h"

namespace pspf::tool {

namespace {
std::string g_name = "pspf";

int exit_code_for(Errc c) {
  switch (c) {
    case Errc::usage: return kExitUsage;
    case Errc::invalid_input: return kExitInvalidInput;
    case Errc::condition: return kExitCondition;
    case Errc::busy: return kExitBusy;
    default: return kExitFailure;
  }
}

LogPlace g_place;
std::string* g_dir = nullptr;
const cli::Option* g_dir_option = nullptr;
const cli::Option* g_brokers_option = nullptr;

// Writes `text` to stderr in one call, so that lines of processes sharing it do not
// mix.
void say(const std::string& text) {
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

// Writes --help's or --version's text to stdout: a write error there is an error,
// except a reader that went away.
int print(const std::string& name, const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0)
    return kExitOk;
  if (errno == EPIPE) return kExitOk;
  say(fmt::format("{}: error: cannot write to standard output: {}\n", name, std::strerror(errno)));
  return kExitFailure;
}

}  // namespace

void add_common_options(cli::App& app, std::string& dir) {
  const char* env = std::getenv("PSPF_DIR");
  dir = env && *env ? env : "./pspf-data";
  g_dir = &dir;
  g_dir_option =
      app.add_option("-d,--dir", dir, "data directory (default: $PSPF_DIR, else ./pspf-data)");
  const char* brokers = std::getenv("PSPF_BROKERS");
  if (brokers && *brokers) g_place.brokers = brokers;
  g_brokers_option = app.add_option("-b,--brokers", g_place.brokers,
                                    "Kafka cluster HOST:PORT[,...] instead of a data directory "
                                    "(default: $PSPF_BROKERS)");
  app.add_option("-X", g_place.kafka_config,
                 "with -b: a librdkafka setting NAME=VALUE (repeatable)")
      ->type_name("NAME=VALUE");
  app.set_version(PSPF_VERSION);
}

const LogPlace& log_place() {
  if (g_dir) g_place.dir = *g_dir;
  g_place.dir_given = g_dir_option && g_dir_option->count() > 0;
  g_place.brokers_given = g_brokers_option && g_brokers_option->count() > 0;
  return g_place;
}

bool on_kafka() {
  const LogPlace& p = log_place();
  return p.brokers && !(p.dir_given && !p.brokers_given);
}

std::string log_name() {
  return on_kafka() ? "Kafka cluster " + *log_place().brokers : "data directory " + log_place().dir;
}

void note(const std::string& message) { say(g_name + ": " + message + "\n"); }

int run_tool(const std::string& name, cli::App& app, int argc, char** argv,
             const std::function<int()>& body) {
  g_name = name;
  // A process may hold a few descriptors per partition (lock, segment, indexes), and
  // a topic may have thousands: the soft limit (often 1024) is only a default, the
  // hard limit is what the administrator allows. Failing that, opens report EMFILE.
  if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  // A closed pipe must show up as EPIPE from write(), not kill the process, so that
  // the tool can stop cleanly and commit only what was written.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    switch (app.parse(argc, argv)) {
      case cli::Parsed::help: return print(name, app.help());
      case cli::Parsed::version: return print(name, name + " " + app.version() + "\n");
      case cli::Parsed::run: break;
    }
  } catch (const cli::UsageError& e) {
    say(fmt::format("{}: error: {} (see {} --help)\n", name, e.message, e.command));
    return kExitUsage;
  }
  try {
    int rc = body();
    stdout_output().flush();
    return rc;
  } catch (const OutputClosed& e) {
    if (e.broken_pipe) return kExitOk;
    say(fmt::format("{}: error: cannot write to standard output: {}\n", name, e.what()));
    return kExitFailure;
  } catch (const Error& e) {
    try {
      stdout_output().flush();
    } catch (...) {
      // stdout is already failing; the error below is the one to report.
    }
    say(fmt::format("{}: error: {}\n", name, e.what()));
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    say(fmt::format("{}: error: {}\n", name, e.what()));
    return kExitFailure;
  }
}

}  // namespace pspf::tool
