// The work loop of pspf-consume (pspf-consume(1)): plain mode prints records and
// commits what was delivered; exec mode runs the library's batch protocol
// (pspf/processor.h) with a command as the job: retries, dead letters, several
// partitions at once, and with --to the command's output appended exactly once
// before the commit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pspf/consumer.h"
#include "pspf/log.h"
#include "pspf/transform_output.h"

namespace pspf::tool {

// pspf-consume's options.
struct ConsumeOptions {
  std::string dir, group, topic, from = "beginning";
  bool exit_at_end = false, envelope = false, no_commit = false;
  std::optional<std::string> idle_exit, exec, dead_letter, to, out_key_field;
  std::optional<uint64_t> count;
  size_t batch = 1000;
  int64_t batch_ms = 100;
  int max_attempts = 3;
  int parallel = 1;
};

// Runs the member until it is done (-e, -c, --idle-exit, a signal or a failure) and
// returns the exit status. `output` is the --to topic, or null.
int run_consumer(const ConsumeOptions& o, Log& log, Consumer& c, TransformOutput* output);

}  // namespace pspf::tool
