#include "pspf/position.h"

#include <charconv>
#include <string>

#include <fmt/format.h>

#include "pspf/error.h"
#include "pspf/parse_int.h"

namespace pspf {

namespace {

[[noreturn]] void bad(std::string_view what, std::string_view text, std::string_view why) {
  throw Error(Errc::usage, fmt::format("invalid {} '{}': {}", what, text, why));
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

}  // namespace

int64_t parse_duration_ms(std::string_view text) {
  if (text.empty()) bad("duration", text, "it is empty");
  int64_t total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t i = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    int64_t n;
    if (i == 0 || !parse_int(rest.substr(0, i), n))
      bad("duration", text, "expected a number followed by ms, s, m, h, d or w");
    rest.remove_prefix(i);
    size_t j = 0;
    while (j < rest.size() && rest[j] >= 'a' && rest[j] <= 'z') ++j;
    std::string_view unit = rest.substr(0, j);
    rest.remove_prefix(j);
    int64_t mult;
    if (unit == "ms")
      mult = 1;
    else if (unit == "s")
      mult = 1000;
    else if (unit == "m")
      mult = 60'000;
    else if (unit == "h")
      mult = 3'600'000;
    else if (unit == "d")
      mult = 86'400'000;
    else if (unit == "w")
      mult = 7 * 86'400'000LL;
    else
      bad("duration", text, "the unit must be ms, s, m, h, d or w");
    if (n > INT64_MAX / mult || total > INT64_MAX - n * mult) bad("duration", text, "too large");
    total += n * mult;
  }
  return total;
}

std::string format_duration_ms(int64_t ms) {
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {7 * 86'400'000LL, "w"}, {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  if (ms > 0)
    for (auto [mult, unit] : kUnits)
      if (ms % mult == 0) return fmt::format("{}{}", ms / mult, unit);
  return fmt::format("{}ms", ms);
}

Timestamp parse_iso8601(std::string_view text) {
  auto fail = [&](std::string_view why) { bad("date-time", text, why); };
  auto num = [&](size_t pos, size_t len) -> int64_t {
    int64_t v = 0;  // fail() throws; clang cannot see that through the lambda
    if (pos + len > text.size() || !parse_int(text.substr(pos, len), v) || text[pos] == '-' ||
        text[pos] == '+')
      fail("expected YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm)");
    return v;
  };
  if (text.size() < 10 || text[4] != '-' || text[7] != '-')
    fail("expected YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm)");
  int64_t y = num(0, 4), mo = num(5, 2), d = num(8, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31) fail("month or day out of range");
  // The month's own length: 2026-02-30 would otherwise roll over into March.
  bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d > kDays[mo - 1] + (mo == 2 && leap))
    fail(fmt::format("{:04d}-{:02d} has no day {}", y, mo, d));
  int64_t h = 0, mi = 0, s = 0, ms = 0, zone_min = 0;
  size_t pos = 10;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')
      fail("expected 'T' after the date");
    h = num(pos + 1, 2);
    if (pos + 3 >= text.size() || text[pos + 3] != ':') fail("expected HH:MM");
    mi = num(pos + 4, 2);
    pos += 6;
    if (pos < text.size() && text[pos] == ':') {
      s = num(pos + 1, 2);
      pos += 3;
      if (pos < text.size() && text[pos] == '.') {
        size_t start = ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
        if (pos == start) fail("expected digits after '.'");
        std::string frac(text.substr(start, pos - start));
        frac.resize(3, '0');
        ms = std::stoll(frac);
      }
    }
    if (h > 23 || mi > 59 || s > 60) fail("time out of range");
    if (pos >= text.size()) fail("a time needs a zone: Z or +hh:mm");
    if (text[pos] == 'Z' || text[pos] == 'z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      int sign = text[pos] == '-' ? -1 : 1;
      int64_t zh = num(pos + 1, 2), zm = 0;
      pos += 3;
      if (pos < text.size() && text[pos] == ':') {
        zm = num(pos + 1, 2);
        pos += 3;
      }
      // Real offsets run from -12:00 to +14:00; anything past 23:59 is no zone at all.
      if (zh > 23 || zm > 59) fail("zone offset out of range (at most 23:59)");
      zone_min = sign * (zh * 60 + zm);
    } else {
      fail("expected Z or +hh:mm after the time");
    }
    if (pos != text.size()) fail("unexpected characters after the zone");
  }
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - zone_min * 60;
  return Timestamp(secs * 1000 + ms);
}

std::string format_iso8601(Timestamp t) {
  int64_t ms = t.value % 1000, secs = t.value / 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", y, m, d, rem / 3600,
                     (rem / 60) % 60, rem % 60, ms);
}

Position parse_position(std::string_view text, Timestamp now) {
  Position p;
  if (text == "beginning" || text == "earliest") {
    p.kind = Position::Kind::beginning;
  } else if (text == "end" || text == "latest") {
    p.kind = Position::Kind::end;
  } else if (!text.empty() && text[0] == '@') {
    std::string_view t = text.substr(1);
    p.kind = Position::Kind::time;
    int64_t v;
    if (!t.empty() && t[0] == '-')
      p.value = now.value - parse_duration_ms(t.substr(1));
    else if (parse_int(t, v))
      p.value = v;
    else
      p.value = parse_iso8601(t).value;
  } else if (!text.empty() && text[0] == '-') {
    int64_t v;
    if (!parse_int(text.substr(1), v) || v < 0)
      bad("position", text, "-N needs a count, like -10 for the last 10");
    p.kind = Position::Kind::last_n;
    p.value = v;
  } else {
    int64_t v;
    if (!parse_int(text, v) || v < 0)
      bad("position", text,
          "expected beginning, end, an offset N, -N, or @TIME (ISO 8601, epoch ms, or -1h)");
    p.kind = Position::Kind::offset;
    p.value = v;
  }
  return p;
}

}  // namespace pspf
