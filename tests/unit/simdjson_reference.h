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
  // `corrected`: without the faults of simdjson 3.0.1 that the converter had (and
  // JsonToMsgpack does not have; json_differential_test pins them):
  //   - a number with integer part 0 and more than 20 fraction digits read as a
  //     wrong double by get_double(): the double is taken from strtod instead;
  //   - a negative integer of 20 digits misread, a root integer of 19-20 digits
  //     followed by whitespace kept as text, and one followed by other bytes
  //     accepted: a number must be valid whole, and an integer's value is taken
  //     from its text;
  //   - a root true or false followed by several whitespace bytes refused by
  //     get_root_bool(): a root word is written from its checked text.
  // Everything else is as it was.
  explicit SimdjsonToMsgpack(bool corrected = false);
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
