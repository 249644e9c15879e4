// JSON <-> MessagePack, without a document tree.
//
// Input: one JSON text (one line of a JSON-lines stream), strict RFC 8259 (no
// trailing commas, no comments, no NaN, exactly one value, valid UTF-8, no raw control
// characters in strings, \u escapes that form valid Unicode: a lone surrogate such as
// "\ud800" is rejected), nested at most 1000 deep, read by pspf's own scanner
// (json_to_msgpack.cpp) and written straight to MessagePack. A scalar ("42",
// "\"x\"", "null") is a valid line.
// Output: MessagePack written back as compact JSON text.
//
// The mapping keeps the JSON value:
//   object -> map (key order kept, duplicate keys kept as they are)
//   array  -> array
//   string -> str (UTF-8, escapes resolved; \u0000 allowed inside strings)
//   integer that fits int64 / uint64 -> int / uint
//   any other number -> float64 when the text has a fraction or exponent and the
//       value is finite; otherwise (an integer beyond 64 bits, an overflowing
//       exponent, a nonzero number that would round to 0 like 1e-400, and "-0") ->
//       ext type kJsonNumberExt holding the number's text, printed back verbatim, so
//       no number is ever altered
//   true/false/null -> bool/nil
// A float64 (or float32) is printed as the shortest text that reads back as the same
// value, with ".0" added when that text would otherwise read back as an integer (1.0
// stays 1.0, 1e300 prints as 1e+300).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "pspf/buffer.h"
#include "pspf/msgpack.h"

namespace pspf {

// MessagePack ext type used for numbers that neither int64/uint64 nor a finite
// float64 can hold exactly; the payload is the number's JSON text.
inline constexpr int8_t kJsonNumberExt = 1;

// Number of readable bytes that callers leave after the end of a line handed to
// JsonToMsgpack::convert, so that a parser may read ahead without a copy (the one
// now used reads none of them). Their content does not matter.
inline constexpr size_t kJsonPadding = 64;

// A field to pick out while converting: a dot path into nested objects ("item.id").
struct FieldCapture {
  std::string_view path;                // set by the caller; empty = capture nothing
  std::string_view what = "key field";  // how errors name it ("id field")
  bool found = false;                   // set by convert: the path exists and is not null
  std::string text;                     // set by convert: a string's content (unescaped), or the
                                        // JSON text of a number, true or false
};
// Path segments name object fields only (array elements are never looked into). With
// duplicate keys the last occurrence decides.

class JsonToMsgpack {
 public:
  JsonToMsgpack();
  ~JsonToMsgpack();
  JsonToMsgpack(const JsonToMsgpack&) = delete;
  JsonToMsgpack& operator=(const JsonToMsgpack&) = delete;

  // Converts the JSON text `line` (no trailing newline; kJsonPadding readable bytes
  // must follow line.data()+line.size()) and appends its MessagePack form to `out`.
  // Each capture whose path is non-empty is filled in (found=false when absent or
  // null); at most 64 captures. Returns true on success. Returns false when the text
  // is not one valid JSON value, or a captured field is an object or array; then
  // error() says why ("invalid JSON: unclosed string", "invalid UTF-8", "trailing
  // characters after the JSON value", "key field item.id is an object"), `out` is
  // restored to its size before the call and every capture has found=false.
  // Allocates nothing per call once the parser (and each capture's text) has grown
  // to the longest line seen.
  bool convert(std::string_view line, Buffer& out, std::span<FieldCapture> captures);

  const std::string& error() const { return error_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_;
};

// Reads one MessagePack value at *p (not past end), appends it to `out` as compact
// JSON and advances *p past it. Map keys that are not strings are written as their
// JSON text in quotes; bin is written as a string of its bytes escaped as JSON; ext
// kJsonNumberExt is written as its text. Never reads outside [*p, end). Returns false
// (with *p unchanged and `out` as it was) when the bytes are not one well-formed
// value, nest deeper than 1000 levels (kMsgpackMaxDepth), or hold an ext of another type or whose
// text is not a JSON number (so damaged bytes never yield invalid JSON).
bool msgpack_to_json(const char** p, const char* end, Buffer& out);

namespace detail {
// msgpack_to_json without its fast path for common values: the same result for
// every input, at about three times the instructions. For the test that compares them.
bool msgpack_to_json_general(const char** p, const char* end, Buffer& out);
}  // namespace detail

// Appends `s` to `out` as a JSON string literal: quotes, escapes for '"', '\\' and
// control characters (\n \t \r \b \f, others \u00XX); other bytes as they are, so
// UTF-8 passes through unchanged.
void append_json_string(std::string_view s, Buffer& out);

}  // namespace pspf
