// Position: the grammar of positions and durations shared by every command
// (pspf-replay --from/--until, pspf-consume --from, pspf-offsets reset).
//
//   beginning | end | N (an offset) | -N (the last N of each partition)
//   @2026-11-01T00:00:00Z | @2026-11-01T01:00:00.250+01:00 | @2026-11-01 (UTC midnight)
//   @1764000000000 (epoch milliseconds) | @-1h (relative to now)
//
// Durations: a number and a unit, ms s m h d w ("90s", "2h", "7d"); several may be
// joined ("1h30m").
#pragma once

#include <cstdint>
#include <string_view>

#include "pspf/types.h"

namespace pspf {

struct Position {
  enum class Kind { beginning, end, offset, last_n, time };
  Kind kind = Kind::beginning;
  int64_t value = 0;  // offset, count, or timestamp (ms) by kind
};

// Parses a position; times relative to `now`. Throws Error(usage) with the reason.
Position parse_position(std::string_view text, Timestamp now);
// Parses a duration into milliseconds. Throws Error(usage).
int64_t parse_duration_ms(std::string_view text);
// The shortest duration text that parse_duration_ms reads back as `ms` ("7d", "90s").
std::string format_duration_ms(int64_t ms);
// Parses an ISO 8601 date-time ("2026-11-01T00:00:00Z", fraction and ±hh:mm offset
// allowed, a date alone is UTC midnight) into epoch milliseconds. Throws Error(usage).
Timestamp parse_iso8601(std::string_view text);
// Formats epoch milliseconds as "2026-11-01T00:00:00.000Z".
std::string format_iso8601(Timestamp t);

// The offsets a partition holds now: the first one still in the log and the one the
// next append will get. start == end when it is empty.
struct OffsetBounds {
  Offset start{0};
  Offset end{0};
};

}  // namespace pspf
