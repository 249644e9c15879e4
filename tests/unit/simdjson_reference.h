// The oracle of json_differential_test: the JSON -> MessagePack converter pspf used
// until it dropped simdjson, kept as a test-only class. pspf::JsonToMsgpack must
// produce the same bytes, accept and refuse the same lines, fill the same captures and
// give the same error() message as this class does, for every line.
//
// Same interface and contract as pspf::JsonToMsgpack (pspf/json_codec.h), including
// the kJsonPadding readable bytes that must follow each line (simdjson reads ahead).
// Only tests link it; it alone needs simdjson.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "pspf/buffer.h"
#include "pspf/json_codec.h"

namespace pspf::test {

class SimdjsonToMsgpack {
 public:
  SimdjsonToMsgpack();
  ~SimdjsonToMsgpack();
  SimdjsonToMsgpack(const SimdjsonToMsgpack&) = delete;
  SimdjsonToMsgpack& operator=(const SimdjsonToMsgpack&) = delete;

  // As JsonToMsgpack::convert.
  bool convert(std::string_view line, Buffer& out, std::span<FieldCapture> captures);

  const std::string& error() const { return error_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_;
};

}  // namespace pspf::test
