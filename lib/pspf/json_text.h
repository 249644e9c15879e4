// JSON text kept as text: checked against RFC 8259 and made compact, without
// converting it into MessagePack (so that printing it back is a copy).
//
// The Kafka backend reads values that are already JSON text; it keeps such a value
// as MessagePack ext type kJsonTextExt holding the compact text, which
// msgpack_to_json prints back verbatim after checking it again (so damaged bytes can
// never print as invalid JSON). Such a value lives in memory only: it is never
// written to a segment.
#pragma once

#include <cstdint>
#include <string_view>

#include "pspf/buffer.h"

namespace pspf {

// MessagePack ext type of a value kept as its compact JSON text.
inline constexpr int8_t kJsonTextExt = 2;

// When `text` is exactly one JSON value (the rules of json_codec.h: strict RFC
// 8259, valid UTF-8, no raw control characters in strings, no lone surrogate in a
// \u escape, nested at most 1000 deep), appends it to `out` without the whitespace
// between its tokens and returns true. Otherwise returns false with `out` as it was.
// Strings and numbers are copied as written.
bool compact_json(std::string_view text, Buffer& out);

// True when `text` is one JSON value with no whitespace between its tokens: what
// compact_json writes.
bool is_compact_json(std::string_view text);

}  // namespace pspf
