// parse_int: the one way text becomes a number here (option values, file names,
// offsets files). The whole text must be the number: no sign but a leading '-' for
// a signed type, no spaces, nothing after it, and it must fit the type.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace pspf {

template <typename T>
std::optional<T> parse_int(std::string_view s, int base = 10) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The same into `out` (left as it was on failure); true when it parsed.
template <typename T>
bool parse_int(std::string_view s, T& out) {
  std::optional<T> v = parse_int<T>(s);
  if (v) out = *v;
  return v.has_value();
}

}  // namespace pspf
