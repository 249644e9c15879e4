// The subcommands of pspf-offsets (pspf-offsets(1)): list, describe, reset,
// commit and delete a consumer group's offsets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "pspf/log.h"

namespace pspf::tool {

// pspf-offsets' options.
struct OffsetsOptions {
  std::string dir, group, topic, shift_by, to_datetime, by_duration, from_file;
  std::vector<std::string> topics;
  int64_t to_offset = 0, offset = 0;
  int32_t partition = 0;
  bool to_earliest = false, to_latest = false;
  bool as_json = false, all_topics = false, execute = false, export_csv = false, force = false;
  std::vector<cli::Option*> modes;  // the reset modes, exactly one of which must be given
};

// Each returns the exit status.
int list_groups(const Log& log, const OffsetsOptions& o);
int describe_group(const Log& log, const OffsetsOptions& o);
int reset_offsets(const Log& log, const OffsetsOptions& o);
int commit_offset(const Log& log, const OffsetsOptions& o);
int delete_group(const Log& log, const OffsetsOptions& o);

}  // namespace pspf::tool
