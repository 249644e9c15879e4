#include "common/command_line.h"

#include <algorithm>
#include <stdexcept>

namespace pspf::tool::cli {

Option* Option::required() {
  required_ = true;
  return this;
}

Option* Option::check(Check c) {
  checks_.push_back(std::move(c));
  return this;
}

Option* Option::excludes(Option* other) {
  excludes_.push_back(other);
  other->excludes_.push_back(this);
  return this;
}

Option* Option::needs(std::string_view name) {
  needs_.push_back(app_->find(name));
  return this;
}

Option* Option::type_name(std::string name) {
  type_ = std::move(name);
  return this;
}

Option* Option::hidden() {
  hidden_ = true;
  return this;
}

App::App(std::string description, std::string name)
    : name_(std::move(name)), description_(std::move(description)) {
  help_ = add_flag("-h,--help", help_asked_, "Print this help message and exit");
}

Option* App::add(std::string_view names, std::string help, std::string type, bool repeatable,
                 std::function<std::string(const std::string&)> store) {
  auto o = std::make_unique<Option>();
  o->app_ = this;
  while (!names.empty()) {
    std::string_view n = names.substr(0, names.find(','));
    names.remove_prefix(std::min(names.size(), n.size() + 1));
    if (n.starts_with("--"))
      o->long_ = n.substr(2);
    else if (n.starts_with('-'))
      o->short_ = n.substr(1);
    else
      o->positional_ = n;
  }
  o->name_ = !o->long_.empty()    ? "--" + o->long_
             : !o->short_.empty() ? "-" + o->short_
                                  : o->positional_;
  o->help_ = std::move(help);
  o->type_ = std::move(type);
  o->repeatable_ = repeatable;
  o->store_ = std::move(store);
  options_.push_back(std::move(o));
  return options_.back().get();
}

Option* App::add_flag(std::string_view names, bool& target, std::string help) {
  Option* o = add(names, std::move(help), "", false, [&target](const std::string&) {
    target = true;
    return std::string();
  });
  o->flag_ = true;
  return o;
}

void App::set_version(std::string version) {
  version_ = std::move(version);
  version_option_ =
      add_flag("--version", version_asked_, "Display program version information and exit");
}

App* App::add_subcommand(std::string name, std::string description) {
  commands_.push_back(std::make_unique<App>(std::move(description), std::move(name)));
  commands_.back()->parent_ = this;
  return commands_.back().get();
}

Option* Option::excludes(std::string_view name) { return excludes(app_->find(name)); }

Option* App::find_long(std::string_view name) {
  if (name.empty()) return nullptr;  // "--=x"; and an option without a long name has ""
  for (App* a = this; a; a = a->parent_)
    for (auto& o : a->options_)
      if (o->long_ == name) return o.get();
  return nullptr;
}

Option* App::find_short(char c) {
  for (App* a = this; a; a = a->parent_)
    for (auto& o : a->options_)
      if (o->short_.size() == 1 && o->short_[0] == c) return o.get();
  return nullptr;
}

Option* App::find(std::string_view name) {
  for (auto& o : options_)
    if (o->name_ == name || (!o->short_.empty() && "-" + o->short_ == name)) return o.get();
  throw std::logic_error(fmt::format("{}: no option {}", path(), name));
}

std::string App::path() const { return parent_ ? parent_->path() + " " + name_ : name_; }

namespace {

// The commands of `commands`, comma-separated.
std::string names_of(const std::vector<std::unique_ptr<App>>& commands) {
  std::string out;
  for (const auto& c : commands) out += (out.empty() ? "" : ", ") + c->name();
  return out;
}

}  // namespace

Parsed App::parse(int argc, const char* const* argv) {
  chosen_ = true;
  App* cmd = this;
  std::optional<UsageError> error;  // the first; --help and --version still win
  auto fail = [&](std::string message) {
    if (!error) error = UsageError{std::move(message), cmd->path()};
  };
  auto give = [&](Option* o, const std::string& value) {
    if (o->count_ > 0 && !o->flag_ && !o->repeatable_) {
      fail(fmt::format("{} is given more than once", o->name_));
      return;
    }
    ++o->count_;
    for (const Check& c : o->checks_)
      if (std::string why = c(value); !why.empty()) return fail(o->name_ + ": " + why);
    if (std::string why = o->store_(value); !why.empty()) fail(o->name_ + ": " + why);
  };
  bool only_positionals = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view w = argv[i];
    if (!only_positionals && w == "--") {
      only_positionals = true;
    } else if (!only_positionals && w.starts_with("--")) {
      size_t eq = w.find('=');
      std::string_view name = w.substr(2, eq == std::string_view::npos ? w.npos : eq - 2);
      Option* o = cmd->find_long(name);
      if (!o) {
        fail(fmt::format("unknown option '{}'", name.empty() ? w : w.substr(0, eq)));
      } else if (o->flag_) {
        if (eq != std::string_view::npos)
          fail(fmt::format("{} takes no value", o->name_));
        else
          give(o, {});
      } else if (eq != std::string_view::npos) {
        give(o, std::string(w.substr(eq + 1)));
      } else if (i + 1 < argc) {
        give(o, argv[++i]);
      } else {
        fail(fmt::format("{} needs a value", o->name_));
      }
    } else if (!only_positionals && w.size() > 1 && w[0] == '-') {
      for (size_t j = 1; j < w.size(); ++j) {
        Option* o = cmd->find_short(w[j]);
        if (!o) {
          fail(fmt::format("unknown option '-{}'", w[j]));
          break;
        }
        if (o->flag_) {
          give(o, {});
          continue;
        }
        if (j + 1 < w.size())
          give(o, std::string(w.substr(j + 1)));
        else if (i + 1 < argc)
          give(o, argv[++i]);
        else
          fail(fmt::format("{} needs a value", o->name_));
        break;
      }
    } else {
      bool command_chosen = std::any_of(cmd->commands_.begin(), cmd->commands_.end(),
                                        [](const auto& c) { return c->chosen_; });
      if (!cmd->commands_.empty() && !command_chosen) {
        auto c = std::find_if(cmd->commands_.begin(), cmd->commands_.end(),
                              [&](const auto& c) { return c->name_ == w; });
        if (c != cmd->commands_.end()) {
          cmd = c->get();
          cmd->chosen_ = true;
        } else {
          fail(fmt::format("unknown command '{}' (the commands are {})", w,
                           names_of(cmd->commands_)));
        }
        continue;
      }
      auto slot = std::find_if(cmd->options_.begin(), cmd->options_.end(), [](const auto& o) {
        return !o->positional_.empty() && (o->repeatable_ || o->count_ == 0);
      });
      if (slot == cmd->options_.end())
        fail(fmt::format("unexpected argument '{}'", w));
      else
        give(slot->get(), std::string(w));
    }
  }
  for (App* a = cmd; a; a = a->parent_)
    if (a->help_->count_ > 0) return Parsed::help;
  if (version_option_ && version_option_->count_ > 0) return Parsed::version;
  if (error) throw *error;
  for (App* a = cmd; a; a = a->parent_) a->finish();
  return Parsed::run;
}

void App::finish() const {
  auto fail = [&](std::string message) { throw UsageError{std::move(message), path()}; };
  for (const auto& o : options_) {
    if (o->required_ && o->count_ == 0) fail(o->name_ + " is required");
    if (o->count_ == 0) continue;
    for (const Option* x : o->excludes_)
      if (x->count_ > 0) fail(fmt::format("{} excludes {}", o->name_, x->name_));
    for (const Option* x : o->needs_)
      if (x->count_ == 0) fail(fmt::format("{} needs {}", o->name_, x->name_));
  }
  if (require_subcommand_ &&
      std::none_of(commands_.begin(), commands_.end(), [](const auto& c) { return c->chosen_; }))
    fail(fmt::format("a command is required (the commands are {})", names_of(commands_)));
}

std::string App::help() const {
  for (const auto& c : commands_)
    if (c->chosen_) return c->help();
  return own_help();
}

std::string App::own_help() const {
  std::string usage = "Usage: " + path() + " [OPTIONS]";
  std::string positionals, options;
  auto line = [](std::string& out, std::string left, const std::string& help) {
    constexpr size_t kColumn = 30;
    out += "  " + left;
    out += left.size() + 2 < kColumn ? std::string(kColumn - 2 - left.size(), ' ')
                                     : "\n" + std::string(kColumn, ' ');
    out += help + "\n";
  };
  for (const auto& o : options_) {
    if (o->hidden_) continue;
    std::string left = o->positional_.empty()
                           ? (o->short_.empty() ? "" : "-" + o->short_) +
                                 (o->short_.empty() || o->long_.empty() ? "" : ",") +
                                 (o->long_.empty() ? "" : "--" + o->long_)
                           : o->positional_;
    if (!o->flag_) left += " " + o->type_;
    if (o->repeatable_) left += " ...";
    if (o->required_) left += " REQUIRED";
    for (const auto& [word, list] :
         {std::pair{" Excludes:", &o->excludes_}, {" Needs:", &o->needs_}})
      for (size_t i = 0; i < list->size(); ++i) left += (i ? "" : word) + (" " + (*list)[i]->name_);
    if (o->positional_.empty()) {
      line(options, left, o->help_);
      continue;
    }
    line(positionals, left, o->help_);
    usage += " " + (o->required_ ? o->positional_ : "[" + o->positional_) +
             (o->repeatable_ ? "..." : "") + (o->required_ ? "" : "]");
  }
  if (!commands_.empty()) usage += " SUBCOMMAND";
  std::string out = description_ + "\n" + usage + "\n\n";
  if (!positionals.empty()) out += "Positionals:\n" + positionals + "\n";
  out += "Options:\n" + options;
  if (!commands_.empty()) {
    out += "\nSubcommands:\n";
    for (const auto& c : commands_) line(out, c->name_, c->description_);
  }
  if (parent_)
    out += fmt::format("\nThe options of {} (see {} --help) may be given here too.\n",
                       parent_->path(), parent_->path());
  return out;
}

}  // namespace pspf::tool::cli
