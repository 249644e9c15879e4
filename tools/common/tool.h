// The frame every pspf command runs in: one place that parses the command line,
// catches failures and turns them into the documented exit codes and the
// "pspf-NAME: error: ..." message on stderr.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/command_line.h"

namespace pspf::tool {

// Exit codes (pspf(7)).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCondition = 3;
inline constexpr int kExitInvalidInput = 65;
inline constexpr int kExitBusy = 75;

// Adds -d/--dir (default $PSPF_DIR, else ./pspf-data), -b/--brokers (default
// $PSPF_BROKERS), -X NAME=VALUE and --version to `app`. -b selects the Kafka
// backend (open_log, options.h); -d and -b together are a usage error, but an
// explicit -d wins over $PSPF_BROKERS.
void add_common_options(cli::App& app, std::string& dir);

// Where the log the command line names is (filled in by parsing the options
// add_common_options added).
struct LogPlace {
  std::string dir;
  bool dir_given = false;                 // -d on the command line
  std::optional<std::string> brokers;     // -b, or $PSPF_BROKERS
  bool brokers_given = false;             // -b on the command line
  std::vector<std::string> kafka_config;  // -X NAME=VALUE, in order
};
const LogPlace& log_place();
// True when the command talks to a Kafka cluster (-b).
bool on_kafka();
// How messages name the log: "data directory D" or "Kafka cluster B".
std::string log_name();

// Parses argv into `app` and runs `body`, or prints --help or --version. Returns the
// exit code: body's, 2 for a usage error, the code matching an Error's Errc
// otherwise, 0 when stdout was closed by its reader (EPIPE). Writes one line to
// stderr for every failure.
int run_tool(const std::string& name, cli::App& app, int argc, char** argv,
             const std::function<int()>& body);

// Prints "pspf-NAME: <message>" on stderr (notes and summaries).
void note(const std::string& message);

}  // namespace pspf::tool
