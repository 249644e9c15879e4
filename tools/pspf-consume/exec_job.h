// ExecJob: runs `/bin/sh -c CMD` on a batch of input held in an anonymous memory
// file, with extra environment variables, and reports how it ended. The input is
// complete before the command starts, so a slow command never blocks the consumer
// on a full pipe, and a retry re-reads the same bytes.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "pspf/buffer.h"
#include "pspf/file.h"

namespace pspf::tool {

class ExecJob {
 public:
  // Copies `input` into a memory file; does not start anything yet. With
  // `capture`, the command's stdout goes to another memory file (output()).
  explicit ExecJob(std::string_view input, bool capture = false);
  ~ExecJob();
  ExecJob(const ExecJob&) = delete;
  ExecJob& operator=(const ExecJob&) = delete;

  // Starts the command (again, for a retry) with `env` added to the environment.
  // Its stdout and stderr are ours.
  void start(const std::string& cmd, const std::vector<std::pair<std::string, std::string>>& env);
  // A file descriptor that becomes readable when the command exits (for poll).
  int exit_fd() const { return pidfd_.get(); }
  bool running() const { return pid_ > 0; }
  // Collects the exit status if the command has ended (without waiting unless
  // `wait`). Returns true when it has ended; then `status()` is valid.
  bool reap(bool wait);
  // Exit code, or 128+signal when it was killed.
  int status() const { return status_; }
  std::string describe_status() const;
  // What the command wrote on stdout (with `capture`), once it has ended.
  std::string output() const;

 private:
  Fd input_;
  Fd output_;
  Fd pidfd_;
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace pspf::tool
