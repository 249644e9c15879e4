// The command-line parser of every pspf tool: options and positionals bound to
// variables, checks with plain messages, commands (pspf-topics create ...), and the
// --help text. It replaces CLI11, whose option set-up and <iostream> were most of a
// pspf process's start-up (tests/bench/README.md); the grammar is getopt_long's:
//
//   --name VALUE, --name=VALUE       a long option with a value; the next word is the
//                                    value even when it starts with '-' (--from -5)
//   -n VALUE, -nVALUE                a short option with a value
//   -qJ, -Jc5                        short flags together, the last may take a value
//   --                               every later word is a positional
//   -                                a positional (stdin, for a file list)
//
// A single-valued option given twice is a usage error; a repeatable one (bound to a
// vector) takes one value per use. A positional bound to a vector takes every
// positional left. After a command word, the options of the command and of every
// command above it are accepted, in any order.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "pspf/parse_int.h"

namespace pspf::tool::cli {

// A check of an option's text before it is stored: returns an empty string when the
// text is fine, else what is wrong with it ("'x' is not a whole number ..."), which
// the parser prefixes with the option's name.
using Check = std::function<std::string(const std::string&)>;

class App;

class Option {
 public:
  // Missing it is a usage error ("--group is required").
  Option* required();
  // Checks each value, in the order added, before it is stored.
  Option* check(Check c);
  // Giving both this option and `other` (an option, or the name of an option of the
  // same command added before) is a usage error. A name of no option throws
  // std::logic_error: a mistake in the tool.
  Option* excludes(Option* other);
  Option* excludes(std::string_view name);
  template <typename... Names>
  Option* excludes(std::string_view a, std::string_view b, Names... rest) {
    excludes(a);
    return excludes(b, rest...);
  }
  // Giving this option without the option `name` (as for excludes) is a usage error.
  Option* needs(std::string_view name);
  // The word shown for the value in --help (default TEXT, or N for a number).
  Option* type_name(std::string name);
  // Not shown in --help (options for tests).
  Option* hidden();

  // How many times the command line gave it.
  size_t count() const { return count_; }
  explicit operator bool() const { return count_ > 0; }
  // The name messages use: the long name, else the short one, else the positional's.
  const std::string& name() const { return name_; }

 private:
  friend class App;
  App* app_ = nullptr;
  std::string short_;  // "p" for -p, or empty
  std::string long_;   // "partition" for --partition, or empty
  std::string positional_;
  std::string name_;
  std::string help_, type_;
  bool flag_ = false, repeatable_ = false, required_ = false, hidden_ = false;
  std::function<std::string(const std::string&)> store_;  // error message, or empty
  std::vector<Check> checks_;
  std::vector<Option*> excludes_, needs_;
  size_t count_ = 0;
};

// How parsing ended when it did not fail.
enum class Parsed { run, help, version };

// A usage error: what is wrong, and the command whose --help to point to
// ("pspf-offsets reset").
struct UsageError {
  std::string message, command;
};

class App {
 public:
  App(std::string description, std::string name);
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // An option "-p,--partition", "--key-field" or "-X", or a positional "topic",
  // bound to `target`: std::string, std::optional<std::string>, a whole number
  // type, std::optional of one, or std::vector<std::string> (repeatable; a
  // positional vector takes every positional left).
  template <typename T>
  Option* add_option(std::string_view names, T& target, std::string help);
  // An option whose value is one of the words of `words` ("'x' is not one of ...").
  template <typename E>
  Option* add_choice(std::string_view names, E& target, const std::map<std::string, E>& words,
                     std::string help);
  // A flag: set to true when given (it takes no value).
  Option* add_flag(std::string_view names, bool& target, std::string help);
  // --version, printing "<name> <version>".
  void set_version(std::string version);

  // A command, like "create" of pspf-topics.
  App* add_subcommand(std::string name, std::string description);
  // A command word is required (for a tool made of commands).
  void require_subcommand() { require_subcommand_ = true; }
  // True when this command was chosen on the command line.
  explicit operator bool() const { return chosen_; }
  const std::string& name() const { return name_; }

  // Parses the words after argv[0]. Throws UsageError. Returns Parsed::help or
  // Parsed::version when those were asked for (anywhere on the line; nothing else is
  // checked then): print help() of the command chosen, or version().
  Parsed parse(int argc, const char* const* argv);
  // The --help text of the deepest command chosen (this one when none was).
  std::string help() const;
  const std::string& version() const { return version_; }

 private:
  friend class Option;
  Option* add(std::string_view names, std::string help, std::string type, bool repeatable,
              std::function<std::string(const std::string&)> store);
  Option* find_long(std::string_view name);
  Option* find_short(char c);
  Option* find(std::string_view name);  // "--x" or "-x", in this command only; throws
  std::string path() const;             // "pspf-offsets reset"
  std::string own_help() const;
  void give(Option* o, const std::string& value);
  void finish() const;

  std::string name_, description_, version_;
  App* parent_ = nullptr;
  std::vector<std::unique_ptr<Option>> options_;
  std::vector<std::unique_ptr<App>> commands_;
  bool require_subcommand_ = false, chosen_ = false;
  Option* help_ = nullptr;
  Option* version_option_ = nullptr;
  bool help_asked_ = false, version_asked_ = false;  // (seen by the options' counts)
};

namespace detail {

template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};

// "'x' is not a whole number from LO to HI" for an integer type.
template <typename N>
std::string parse_number(const std::string& text, N& out) {
  if (parse_int(text, out)) return {};
  return fmt::format("'{}' is not a whole number from {} to {}", text,
                     std::numeric_limits<N>::min(), std::numeric_limits<N>::max());
}

}  // namespace detail

template <typename T>
Option* App::add_option(std::string_view names, T& target, std::string help) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::optional<std::string>>) {
    return add(names, std::move(help), "TEXT", false, [&target](const std::string& v) {
      target = v;
      return std::string();
    });
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return add(names, std::move(help), "TEXT", true, [&target](const std::string& v) {
      target.push_back(v);
      return std::string();
    });
  } else if constexpr (detail::is_optional<T>::value) {
    using N = typename T::value_type;
    static_assert(std::is_integral_v<N>, "add_option: unsupported type");
    return add(names, std::move(help), "N", false, [&target](const std::string& v) {
      N n{};
      std::string why = detail::parse_number(v, n);
      if (why.empty()) target = n;
      return why;
    });
  } else {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>,
                  "add_option: unsupported type");
    return add(names, std::move(help), "N", false,
               [&target](const std::string& v) { return detail::parse_number(v, target); });
  }
}

template <typename E>
Option* App::add_choice(std::string_view names, E& target, const std::map<std::string, E>& words,
                        std::string help) {
  std::string list;
  for (const auto& w : words) list += (list.empty() ? "" : ", ") + w.first;
  return add(names, std::move(help), "WORD", false,
             [&target, words, list](const std::string& v) -> std::string {
               auto it = words.find(v);
               if (it == words.end()) return fmt::format("'{}' is not one of {}", v, list);
               target = it->second;
               return {};
             });
}

}  // namespace pspf::tool::cli
