// The tools' command-line parser (tools/common/command_line.h): the grammar, the
// usage errors and their messages, commands, and the --help text.
#include <doctest/doctest.h>

#include <stdexcept>

#include "common/command_line.h"

using namespace pspf::tool::cli;

namespace {

// Parses `words` (argv without argv[0]) into `app`.
Parsed parse(App& app, std::vector<const char*> words) {
  words.insert(words.begin(), "prog");
  return app.parse(static_cast<int>(words.size()), words.data());
}

// The usage error parsing `words` gives, or "" when it parses.
std::string error_of(App& app, std::vector<const char*> words) {
  try {
    parse(app, std::move(words));
  } catch (const UsageError& e) {
    return e.message + " [" + e.command + "]";
  }
  return "";
}
// The same with a new command line of type T (an App parses one line only).
template <typename T>
std::string error_of(std::vector<const char*> words) {
  T t;
  return error_of(t.app, std::move(words));
}

// A command line like pspf-replay's.
struct Replay {
  App app{"Print a topic.", "prog"};
  std::string topic, from = "beginning";
  std::optional<std::string> key;
  std::optional<uint64_t> count;
  std::vector<std::string> parts, files;
  bool envelope = false, follow = false, latest = false;
  int32_t partitions = 4;
  Option *key_opt, *latest_opt;

  Replay() {
    app.set_version("1.2.3");
    app.add_option("topic", topic, "topic")->required();
    app.add_option("files", files, "files");
    app.add_option("-o,--from", from, "start");
    key_opt = app.add_option("--key", key, "key");
    app.add_option("-c,--count", count, "count");
    app.add_option("-p,--partition", parts, "partitions (repeatable)");
    app.add_option("--partitions", partitions, "partition count");
    app.add_flag("-J,--envelope", envelope, "envelope");
    app.add_flag("-f,--follow", follow, "follow");
    latest_opt = app.add_flag("--latest", latest, "latest")->excludes("--from", "--follow");
  }
};

}  // namespace

TEST_CASE("long and short options, with the value joined or in the next word") {
  Replay r;
  REQUIRE(parse(r.app, {"t", "--from=-5", "-c3", "--key", "-k", "-p", "0", "-p1,2"}) ==
          Parsed::run);
  CHECK(r.topic == "t");
  CHECK(r.from == "-5");
  CHECK(r.count == 3u);
  CHECK(r.key == "-k");  // the word after an option that takes a value is its value
  CHECK(r.parts == std::vector<std::string>{"0", "1,2"});
  CHECK(r.key_opt->count() == 1);

  Replay s;
  REQUIRE(parse(s.app, {"-o", "-1", "--count", "7", "t"}) == Parsed::run);
  CHECK(s.from == "-1");
  CHECK(s.count == 7u);
  CHECK(s.topic == "t");
}

TEST_CASE("short flags go together, and the last of them may take the value") {
  Replay r;
  REQUIRE(parse(r.app, {"-Jfc12", "t"}) == Parsed::run);
  CHECK(r.envelope);
  CHECK(r.follow);
  CHECK(r.count == 12u);
  Replay s;
  REQUIRE(parse(s.app, {"t", "-fJ", "-J"}) == Parsed::run);  // a flag may be repeated
  CHECK(s.follow);
  CHECK(s.envelope);
}

TEST_CASE("positionals: in order, a vector takes the rest, -- ends the options, - is a word") {
  Replay r;
  REQUIRE(parse(r.app, {"t", "a", "-J", "-", "--", "-c", "--key=x"}) == Parsed::run);
  CHECK(r.topic == "t");
  CHECK(r.files == std::vector<std::string>{"a", "-", "-c", "--key=x"});
  CHECK(r.envelope);
  CHECK_FALSE(r.count);
  CHECK_FALSE(r.key);
}

TEST_CASE("usage errors name the option or the word") {
  CHECK(error_of<Replay>({}) == "topic is required [prog]");
  CHECK(error_of<Replay>({"t", "--bogus"}) == "unknown option '--bogus' [prog]");
  CHECK(error_of<Replay>({"t", "-Jz"}) == "unknown option '-z' [prog]");
  CHECK(error_of<Replay>({"t", "--=x"}) == "unknown option '--=x' [prog]");
  CHECK(error_of<Replay>({"t", "---c"}) == "unknown option '---c' [prog]");
  CHECK(error_of<Replay>({"t", "--key"}) == "--key needs a value [prog]");
  CHECK(error_of<Replay>({"t", "-c"}) == "--count needs a value [prog]");
  CHECK(error_of<Replay>({"t", "--key", "a", "--key=b"}) == "--key is given more than once [prog]");
  CHECK(error_of<Replay>({"t", "--follow=yes"}) == "--follow takes no value [prog]");
  CHECK(error_of<Replay>({"t", "--latest", "-o", "1"}) == "--from excludes --latest [prog]");
  CHECK(error_of<Replay>({"t", "-f", "--latest"}) == "--follow excludes --latest [prog]");
  // The first error is the one reported.
  CHECK(error_of<Replay>({"t", "--nope", "--bogus"}) == "unknown option '--nope' [prog]");
}

TEST_CASE("numbers: whole, decimal, within the type") {
  for (const char* bad : {"abc", "", "0x10", "1e2", " 3", "+3", "-1", "18446744073709551616"}) {
    CAPTURE(bad);
    CHECK(error_of<Replay>({"t", "-c", bad}) ==
          fmt::format("--count: '{}' is not a whole number from 0 to 18446744073709551615 [prog]",
                      bad));
  }
  CHECK(error_of<Replay>({"t", "--partitions", "2147483648"}) ==
        "--partitions: '2147483648' is not a whole number from -2147483648 to 2147483647 [prog]");
  Replay s;
  REQUIRE(parse(s.app, {"t", "--partitions", "-3", "-c", "18446744073709551615"}) == Parsed::run);
  CHECK(s.partitions == -3);
  CHECK(s.count == UINT64_MAX);
}

TEST_CASE("checks and word choices: their message after the option's name") {
  App app{"d", "prog"};
  int64_t n = 0;
  enum class Mode { a, b } mode = Mode::a;
  app.add_option("--n", n, "n")->check([](const std::string& v) {
    return v == "13" ? std::string("unlucky") : std::string();
  });
  app.add_choice("--mode", mode, std::map<std::string, Mode>{{"a", Mode::a}, {"b", Mode::b}},
                 "mode");
  CHECK(error_of(app, {"--n", "13"}) == "--n: unlucky [prog]");
  App app2{"d", "prog"};
  app2.add_choice("--mode", mode, std::map<std::string, Mode>{{"a", Mode::a}, {"b", Mode::b}},
                  "mode");
  CHECK(error_of(app2, {"--mode", "c"}) == "--mode: 'c' is not one of a, b [prog]");
  App app3{"d", "prog"};
  app3.add_choice("--mode", mode, std::map<std::string, Mode>{{"a", Mode::a}, {"b", Mode::b}},
                  "mode");
  REQUIRE(parse(app3, {"--mode=b"}) == Parsed::run);
  CHECK(mode == Mode::b);
}

TEST_CASE("--help and --version win over any error on the line") {
  Replay r;
  CHECK(parse(r.app, {"--bogus", "--help"}) == Parsed::help);
  Replay s;
  CHECK(parse(s.app, {"-c", "x", "--version"}) == Parsed::version);
  CHECK(s.app.version() == "1.2.3");
  Replay u;
  CHECK(parse(u.app, {"-h"}) == Parsed::help);  // the required topic is not asked for
}

TEST_CASE("needs: an option given without the one it needs") {
  App app{"d", "prog"};
  bool latest = false;
  std::optional<std::string> as_of;
  app.add_flag("--latest", latest, "l");
  app.add_option("--as-of", as_of, "a")->needs("--latest");
  CHECK(error_of(app, {"--as-of", "x"}) == "--as-of needs --latest [prog]");
  App ok{"d", "prog"};
  ok.add_flag("--latest", latest, "l");
  ok.add_option("--as-of", as_of, "a")->needs("--latest");
  CHECK(parse(ok, {"--as-of", "x", "--latest"}) == Parsed::run);
}

TEST_CASE("a name of no option is the tool's mistake, found when the line is set up") {
  App app{"d", "prog"};
  bool f = false;
  Option* o = app.add_flag("--f", f, "f");
  CHECK_THROWS_AS(o->excludes("--nothing"), std::logic_error);
  CHECK_THROWS_AS(o->needs("--nothing"), std::logic_error);
}

namespace {

// A tool made of commands, like pspf-offsets.
struct Tool {
  App app{"Groups.", "tool"};
  std::string dir = "default", group, topic;
  bool json = false;
  App *list, *reset;
  Tool() {
    app.add_option("-d,--dir", dir, "dir");
    app.require_subcommand();
    list = app.add_subcommand("list", "list them");
    list->add_flag("--json", json, "json");
    reset = app.add_subcommand("reset", "reset one");
    reset->add_option("-g,--group", group, "group")->required();
    reset->add_option("topic", topic, "topic");
  }
};

}  // namespace

TEST_CASE("commands: the tool's options before or after the command word") {
  Tool t;
  REQUIRE(parse(t.app, {"reset", "-g", "g", "-d", "x", "top"}) == Parsed::run);
  CHECK(*t.reset);
  CHECK_FALSE(*t.list);
  CHECK(t.group == "g");
  CHECK(t.dir == "x");
  CHECK(t.topic == "top");
  Tool u;
  REQUIRE(parse(u.app, {"-d", "y", "list", "--json"}) == Parsed::run);
  CHECK(*u.list);
  CHECK(u.json);
  CHECK(u.dir == "y");
}

TEST_CASE("commands: usage errors name the command whose help to read") {
  CHECK(error_of<Tool>({}) == "a command is required (the commands are list, reset) [tool]");
  CHECK(error_of<Tool>({"bogus"}) ==
        "unknown command 'bogus' (the commands are list, reset) [tool]");
  CHECK(error_of<Tool>({"reset", "t"}) == "--group is required [tool reset]");
  CHECK(error_of<Tool>({"list", "reset"}) == "unexpected argument 'reset' [tool list]");
  CHECK(error_of<Tool>({"list", "-g", "g"}) == "unknown option '-g' [tool list]");
}

TEST_CASE("--help: the command chosen, its usage, positionals, options and commands") {
  Tool t;
  REQUIRE(parse(t.app, {"reset", "--help"}) == Parsed::help);
  std::string h = t.app.help();
  CHECK(h.starts_with("reset one\nUsage: tool reset [OPTIONS] [topic]\n"));
  CHECK(h.find("  -g,--group TEXT REQUIRED    group\n") != std::string::npos);
  CHECK(h.find("Positionals:\n  topic TEXT") != std::string::npos);
  CHECK(h.find("--json") == std::string::npos);
  CHECK(h.ends_with("\nThe options of tool (see tool --help) may be given here too.\n"));

  Tool u;
  REQUIRE(parse(u.app, {"--help"}) == Parsed::help);
  h = u.app.help();
  CHECK(h.find("Usage: tool [OPTIONS] SUBCOMMAND\n") != std::string::npos);
  CHECK(h.find("\nSubcommands:\n  list                        list them\n"
               "  reset                       reset one\n") != std::string::npos);

  Replay r;
  REQUIRE(parse(r.app, {"--help"}) == Parsed::help);
  h = r.app.help();
  CHECK(h.find("Usage: prog [OPTIONS] topic [files...]\n") != std::string::npos);
  CHECK(h.find("  -p,--partition TEXT ...     partitions (repeatable)\n") != std::string::npos);
  CHECK(h.find("  --latest Excludes: --from --follow\n                              latest\n") !=
        std::string::npos);
  CHECK(h.find("  --version ") != std::string::npos);
}
