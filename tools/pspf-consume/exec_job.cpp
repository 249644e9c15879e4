#include "pspf-consume/exec_job.h"

#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "pspf/error.h"

extern char** environ;

namespace pspf::tool {

ExecJob::ExecJob(std::string cmd, std::string_view input, bool capture) : cmd_(std::move(cmd)) {
  int fd = ::memfd_create("pspf-batch", MFD_CLOEXEC);
  if (fd < 0) throw_errno("cannot create a memory file for the batch");
  input_ = Fd(fd);
  pwrite_all(fd, input.data(), input.size(), 0, "batch memory file");
  if (capture) {
    int out = ::memfd_create("pspf-output", MFD_CLOEXEC);
    if (out < 0) throw_errno("cannot create a memory file for the command's output");
    output_ = Fd(out);
  }
}

std::string ExecJob::output() const { return read_to_end(output_.get(), "output memory file"); }

ExecJob::~ExecJob() {
  if (pid_ > 0) reap(true);
}

void ExecJob::start(const BatchInfo& b) {
  spawn({{"PSPF_TOPIC", std::string(b.topic)},
         {"PSPF_PARTITION", std::to_string(b.partition.value)},
         {"PSPF_FIRST_OFFSET", std::to_string(b.first.value)},
         {"PSPF_LAST_OFFSET", std::to_string(b.last.value)},
         {"PSPF_GROUP", std::string(b.group)},
         {"PSPF_ATTEMPT", std::to_string(b.attempt)}});
}

void ExecJob::spawn(const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string_view v = *e;
    bool replaced = false;
    for (const auto& [k, _] : env)
      if (v.size() > k.size() && v.substr(0, k.size()) == k && v[k.size()] == '=') replaced = true;
    if (!replaced) vars.emplace_back(v);
  }
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // The child reads the batch from the start of the memory file as its stdin.
  if (::lseek(input_.get(), 0, SEEK_SET) < 0) throw_errno("cannot rewind the batch memory file");
  posix_spawn_file_actions_adddup2(&fa, input_.get(), STDIN_FILENO);
  if (output_.valid()) {  // a retry starts from an empty output
    truncate_file(output_.get(), 0, "output memory file");
    if (::lseek(output_.get(), 0, SEEK_SET) < 0)
      throw_errno("cannot rewind the output memory file");
    posix_spawn_file_actions_adddup2(&fa, output_.get(), STDOUT_FILENO);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  const char* argv[] = {"/bin/sh", "-c", cmd_.c_str(), nullptr};
  int rc = ::posix_spawn(&pid_, "/bin/sh", &fa, &attr, const_cast<char* const*>(argv), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    pid_ = -1;
    throw_errno("cannot run /bin/sh -c " + cmd_, rc);
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd < 0) throw_errno("cannot watch the command's process");
  pidfd_ = Fd(pidfd);
  status_ = -1;
}

bool ExecJob::reap(bool wait) {
  if (pid_ <= 0) return true;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR && wait);
  if (r == 0) return false;
  if (r < 0) {
    if (errno == EINTR) return false;
    throw_errno("cannot wait for the command");
  }
  pid_ = -1;
  pidfd_.reset();
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return true;
}

std::string ExecJob::describe_status() const {
  if (status_ > 128) return fmt::format("killed by signal {}", status_ - 128);
  return fmt::format("exit status {}", status_);
}

}  // namespace pspf::tool
