#include "common/tool.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
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

}  // namespace

void add_common_options(CLI::App& app, std::string& dir) {
  const char* env = std::getenv("PSPF_DIR");
  dir = env && *env ? env : "./pspf-data";
  g_dir = &dir;
  app.add_option("-d,--dir", dir, "data directory (default: $PSPF_DIR, else ./pspf-data)")
      ->each([](const std::string&) { g_place.dir_given = true; });
  const char* brokers = std::getenv("PSPF_BROKERS");
  if (brokers && *brokers) g_place.brokers = brokers;
  app.add_option("-b,--brokers", g_place.brokers,
                 "Kafka cluster HOST:PORT[,...] instead of a data directory "
                 "(default: $PSPF_BROKERS)")
      ->each([](const std::string&) { g_place.brokers_given = true; });
  app.add_option("-X", g_place.kafka_config,
                 "with -b: a librdkafka setting NAME=VALUE (repeatable)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  app.set_version_flag("--version", std::string(PSPF_VERSION));
}

const LogPlace& log_place() {
  if (g_dir) g_place.dir = *g_dir;
  return g_place;
}

bool on_kafka() {
  const LogPlace& p = log_place();
  return p.brokers && !(p.dir_given && !p.brokers_given);
}

std::string log_name() {
  return on_kafka() ? "Kafka cluster " + *log_place().brokers : "data directory " + log_place().dir;
}

void note(const std::string& message) {
  std::fflush(stdout);
  std::cerr << g_name << ": " << message << std::endl;
}

int run_tool(const std::string& name, CLI::App& app, int argc, char** argv,
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
  // --help and --version write to stdout too: a write error there is an error.
  auto flushed = [&](int rc) {
    std::cout.flush();
    if (!std::cout && errno != EPIPE) {
      std::cerr << name << ": error: cannot write to standard output: " << std::strerror(errno)
                << "\n";
      return kExitFailure;
    }
    return rc;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return flushed(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return flushed(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    std::cout << name << " " << PSPF_VERSION << "\n";
    return flushed(kExitOk);
  } catch (const CLI::ParseError& e) {
    std::string why = e.what();
    // A misspelt command reads as a stray argument, and CLI11 only says that a
    // command is missing: name the word and the commands there are.
    auto commands = app.get_subcommands([](const CLI::App*) { return true; });
    auto rest = app.remaining();
    if (!commands.empty() && app.get_subcommands().empty() && !rest.empty() &&
        !rest.front().starts_with('-')) {
      std::vector<std::string> names;
      for (const auto* c : commands) names.push_back(c->get_name());
      why = fmt::format("unknown command '{}' (the commands are {})", rest.front(),
                        fmt::join(names, ", "));
    }
    std::cerr << name << ": error: " << why << " (see " << name << " --help)\n";
    return kExitUsage;
  }
  try {
    int rc = body();
    stdout_output().flush();
    return rc;
  } catch (const OutputClosed& e) {
    if (e.broken_pipe) return kExitOk;
    std::cerr << name << ": error: cannot write to standard output: " << e.what() << "\n";
    return kExitFailure;
  } catch (const Error& e) {
    try {
      stdout_output().flush();
    } catch (...) {
      // stdout is already failing; the error below is the one to report.
    }
    std::cerr << name << ": error: " << e.what() << "\n";
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << name << ": error: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace pspf::tool
