// ExecJob: pspf-consume --exec's job (pspf/processor.h): runs `/bin/sh -c CMD` on a
// batch of input held in an anonymous memory file, with the batch described in
// PSPF_* environment variables, and reports how it ended. The input is
// complete before the command starts, so a slow command never blocks the consumer
// on a full pipe, and a retry re-reads the same bytes.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "pspf/buffer.h"
#include "pspf/file.h"
#include "pspf/processor.h"

namespace pspf::tool {

class ExecJob : public BatchJob {
 public:
  // Copies `input` into a memory file; does not start anything yet. With
  // `capture`, the command's stdout goes to another memory file (output()).
  ExecJob(std::string cmd, std::string_view input, bool capture = false);
  ~ExecJob() override;
  ExecJob(const ExecJob&) = delete;
  ExecJob& operator=(const ExecJob&) = delete;

  // Starts the command (again, for a retry) with PSPF_TOPIC, PSPF_PARTITION,
  // PSPF_FIRST_OFFSET, PSPF_LAST_OFFSET, PSPF_GROUP and PSPF_ATTEMPT set. Its stdout
  // (unless captured) and stderr are ours.
  void start(const BatchInfo& b) override;
  // A file descriptor that becomes readable when the command exits (for poll).
  int exit_fd() const override { return pidfd_.get(); }
  bool running() const override { return pid_ > 0; }
  // Collects the exit status if the command has ended (without waiting unless
  // `wait`). Returns true when it has ended; then `status()` is valid.
  bool reap(bool wait) override;
  // Exit code, or 128+signal when it was killed.
  int status() const override { return status_; }
  std::string describe_status() const override;
  // What the command wrote on stdout (with `capture`), once it has ended.
  std::string output() const override;

 private:
  // Runs the command with `env` added to the environment.
  void spawn(const std::vector<std::pair<std::string, std::string>>& env);

  std::string cmd_;
  Fd input_;
  Fd output_;
  Fd pidfd_;
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace pspf::tool
