// Positions, durations and ISO 8601 times.
#include <doctest/doctest.h>

#include "pspf/error.h"
#include "pspf/position.h"

using namespace pspf;

TEST_CASE("durations add up their parts") {
  CHECK(parse_duration_ms("500ms") == 500);
  CHECK(parse_duration_ms("90s") == 90'000);
  CHECK(parse_duration_ms("2h") == 7'200'000);
  CHECK(parse_duration_ms("1h30m") == 5'400'000);
  CHECK(parse_duration_ms("7d") == 604'800'000);
  CHECK(parse_duration_ms("1w") == 604'800'000);
  CHECK_THROWS_AS(parse_duration_ms(""), Error);
  CHECK_THROWS_AS(parse_duration_ms("5"), Error);
  CHECK_THROWS_AS(parse_duration_ms("5y"), Error);
  CHECK_THROWS_AS(parse_duration_ms("h"), Error);
}

TEST_CASE("ISO 8601 times parse to epoch milliseconds") {
  CHECK(parse_iso8601("1970-01-01T00:00:00Z").value == 0);
  CHECK(parse_iso8601("2026-11-01T00:00:00Z").value == 1793491200000);
  CHECK(parse_iso8601("2026-11-01").value == 1793491200000);
  CHECK(parse_iso8601("2026-11-01T01:00:00.250+01:00").value == 1793491200250);
  CHECK(parse_iso8601("2026-10-31T19:00:00-05:00").value == 1793491200000);
  CHECK(parse_iso8601("2000-02-29T12:00:00Z").value == 951825600000);
  CHECK_THROWS_AS(parse_iso8601("2026-13-01T00:00:00Z"), Error);
  CHECK_THROWS_AS(parse_iso8601("2026-11-01T00:00:00"), Error);
  CHECK_THROWS_AS(parse_iso8601("yesterday"), Error);
}

TEST_CASE("times format back to the same instant") {
  CHECK(format_iso8601(Timestamp(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(format_iso8601(Timestamp(1793491200250)) == "2026-11-01T00:00:00.250Z");
  CHECK(parse_iso8601(format_iso8601(Timestamp(951825600123))).value == 951825600123);
}

TEST_CASE("positions of every kind") {
  Timestamp now(1'000'000'000);
  CHECK(parse_position("beginning", now).kind == Position::Kind::beginning);
  CHECK(parse_position("end", now).kind == Position::Kind::end);
  Position p = parse_position("42", now);
  CHECK(p.kind == Position::Kind::offset);
  CHECK(p.value == 42);
  p = parse_position("-10", now);
  CHECK(p.kind == Position::Kind::last_n);
  CHECK(p.value == 10);
  p = parse_position("@1764000000000", now);
  CHECK(p.kind == Position::Kind::time);
  CHECK(p.value == 1764000000000);
  p = parse_position("@-1h", now);
  CHECK(p.value == 1'000'000'000 - 3'600'000);
  p = parse_position("@2026-11-01T00:00:00Z", now);
  CHECK(p.value == 1793491200000);
  CHECK_THROWS_AS(parse_position("soon", now), Error);
  CHECK_THROWS_AS(parse_position("-x", now), Error);
  CHECK_THROWS_AS(parse_position("@", now), Error);
}
