// The frame every pspf command runs in: one place that parses the command line,
// catches failures and turns them into the documented exit codes and the
// "pspf-NAME: error: ..." message on stderr.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace pspf::tool {

// Exit codes (pspf(7)).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCondition = 3;
inline constexpr int kExitInvalidInput = 65;
inline constexpr int kExitBusy = 75;

// Adds -d/--dir (default $PSPF_DIR, else ./pspf-data) and --version to `app`.
void add_common_options(CLI::App& app, std::string& dir);

// Parses argv into `app` and runs `body`. Returns the exit code: body's, 2 for a
// usage error, the code matching an Error's Errc otherwise, 0 when stdout was
// closed by its reader (EPIPE). Writes one line to stderr for every failure.
int run_tool(const std::string& name, CLI::App& app, int argc, char** argv,
             const std::function<int()>& body);

// Prints "pspf-NAME: <message>" on stderr (notes and summaries).
void note(const std::string& message);

}  // namespace pspf::tool
