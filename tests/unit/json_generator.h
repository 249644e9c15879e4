// Random JSON lines for json_differential_test, and random damage to them: test
// data only, made the same for the same seed (std::mt19937_64, no other state).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>

namespace pspf::test {

// Writes random JSON values: objects and arrays nested up to 6 deep, keys mostly from
// a small set (so that capture paths hit), strings with every escape and
// UTF-8 of every length, numbers of every shape, random JSON whitespace between
// tokens. Now and then a string carries a lone surrogate escape, which is refused.
class JsonGenerator {
 public:
  explicit JsonGenerator(uint64_t seed) : rng_(seed) {}

  std::string line() {
    s_.clear();
    space();
    value(0);
    space();
    return s_;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool chance(size_t percent) { return pick(100) < percent; }
  char digit(char from = '0') { return char(from + pick(size_t('9' - from + 1))); }

  void space() {
    if (chance(20))
      for (size_t n = 1 + pick(3); n > 0; --n) s_ += " \t\r\n"[pick(4)];
  }

  void value(int depth) {
    // Mostly an object at the root, as events are, so that the capture paths apply.
    size_t container = depth == 0 ? 90 : depth >= 6 ? 0 : 45 - 7 * size_t(depth);
    if (chance(container)) return chance(depth == 0 ? 85 : 65) ? object(depth) : array(depth);
    switch (pick(10)) {
      case 0: s_ += "true"; break;
      case 1: s_ += "false"; break;
      case 2: s_ += "null"; break;
      case 3:
      case 4:
      case 5: string(); break;
      default: number(); break;
    }
  }

  void object(int depth) {
    s_ += '{';
    size_t n = pick(6);
    for (size_t i = 0; i < n; ++i) {
      if (i) s_ += ',';
      space();
      key();
      space();
      s_ += ':';
      space();
      value(depth + 1);
      space();
    }
    if (n == 0) space();
    s_ += '}';
  }

  void array(int depth) {
    s_ += '[';
    size_t n = pick(6);
    for (size_t i = 0; i < n; ++i) {
      if (i) s_ += ',';
      space();
      value(depth + 1);
      space();
    }
    if (n == 0) space();
    s_ += ']';
  }

  // Keys of the capture paths, sometimes spelled with escapes ("\u0061" is "a").
  void key() {
    static const std::array<const char*, 12> keys = {
        R"("a")", R"("b")",  R"("id")",      R"("a.b")", R"("a\\b")",          R"("\u0061")",
        R"("a")", R"("id")", R"("i\u0064")", R"("c")",   R"("a\u002e\u0062")", R"("")"};
    if (chance(75))
      s_ += keys[pick(keys.size())];
    else
      string();
  }

  void utf8(uint32_t cp) {
    if (cp < 0x80) {
      s_ += char(cp);
    } else if (cp < 0x800) {
      s_ += char(0xc0 | (cp >> 6));
      s_ += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      s_ += char(0xe0 | (cp >> 12));
      s_ += char(0x80 | ((cp >> 6) & 0x3f));
      s_ += char(0x80 | (cp & 0x3f));
    } else {
      s_ += char(0xf0 | (cp >> 18));
      s_ += char(0x80 | ((cp >> 12) & 0x3f));
      s_ += char(0x80 | ((cp >> 6) & 0x3f));
      s_ += char(0x80 | (cp & 0x3f));
    }
  }

  void hex4(uint32_t v) {
    const char* hex = chance(50) ? "0123456789abcdef" : "0123456789ABCDEF";
    s_ += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) s_ += hex[(v >> shift) & 15];
  }

  // A code point that is not a surrogate, of 1 to 4 UTF-8 bytes.
  uint32_t code_point() {
    static const std::array<std::pair<uint32_t, uint32_t>, 5> ranges = {
        {{0x20, 0x7f}, {0x80, 0x7ff}, {0x800, 0xd7ff}, {0xe000, 0xffff}, {0x10000, 0x10ffff}}};
    auto [lo, hi] = ranges[pick(ranges.size())];
    return lo + uint32_t(pick(hi - lo + 1));
  }

  void string() {
    s_ += '"';
    for (size_t n = pick(chance(90) ? 12 : 80); n > 0; --n) {
      size_t k = pick(100);
      if (k < 45) {
        char c = char(0x20 + pick(0x5f));
        s_ += c == '"' || c == '\\' ? 'q' : c;
      } else if (k < 55) {
        s_ += '\\';
        s_ += "\"\\/bfnrt"[pick(8)];
      } else if (k < 63) {
        uint32_t cp = uint32_t(pick(0x20));  // a control character
        if (chance(70)) do
            cp = code_point();  // or any other character of the BMP but a surrogate
          while (cp >= 0x10000);
        hex4(cp);
      } else if (k < 68) {
        uint32_t cp = 0x10000 + uint32_t(pick(0x100000));
        hex4(0xd800 + ((cp - 0x10000) >> 10));
        hex4(0xdc00 + ((cp - 0x10000) & 0x3ff));
      } else if (k < 90) {
        uint32_t cp = code_point();
        utf8(cp == '"' || cp == '\\' ? 'q' : cp);  // raw, so not the two that need escaping
      } else if (k < 92) {
        s_ += '\x7f';
      } else if (k < 93 && chance(15)) {
        hex4(0xd800 + uint32_t(pick(0x800)));  // a lone surrogate
      } else {
        s_ += char('a' + pick(26));
      }
    }
    s_ += '"';
  }

  void digits(size_t n) {
    for (; n > 0; --n) s_ += digit();
  }

  void number() {
    static const std::array<const char*, 22> special = {"0",
                                                        "-0",
                                                        "-0.0",
                                                        "1.0",
                                                        "9223372036854775807",
                                                        "9223372036854775808",
                                                        "-9223372036854775808",
                                                        "-9223372036854775809",
                                                        "18446744073709551615",
                                                        "18446744073709551616",
                                                        "1e308",
                                                        "1e309",
                                                        "-1e309",
                                                        "1e-400",
                                                        "5e-324",
                                                        "4e-324",
                                                        "2.2250738585072011e-308",
                                                        "1.7976931348623158e308",
                                                        "0.1000000000000000055511151231257827",
                                                        "123456789012345678901234567890",
                                                        "0e-400",
                                                        "-0e0"};
    if (chance(20)) return void(s_ += special[pick(special.size())]);
    if (pick(1000) == 0) {  // 100 to 1100 digits
      s_ += digit('1');
      return digits(pick(1000) + 99);
    }
    if (chance(30)) s_ += '-';
    if (chance(20)) {
      s_ += '0';
    } else {
      s_ += digit('1');
      digits(chance(85) ? pick(6) : pick(25));
    }
    if (chance(40)) {
      s_ += '.';
      digits(1 + (chance(85) ? pick(6) : pick(40)));
    }
    if (chance(30)) {
      s_ += chance(50) ? 'e' : 'E';
      if (size_t sign = pick(3)) s_ += sign == 1 ? '+' : '-';
      digits(1 + pick(3));
    }
  }

  std::mt19937_64 rng_;
  std::string s_;
};

enum class Mutation { flip, erase, insert, truncate };
inline constexpr std::array<const char*, 4> kMutationNames = {
    "mutation: a byte replaced", "mutation: a byte deleted", "mutation: a byte inserted",
    "mutation: truncated"};

// `line` with one random change: a byte set to a random value (half the time one that
// matters to JSON or UTF-8), a byte deleted, a structural or quote byte inserted, or
// the line cut short.
inline std::string mutate(std::string line, Mutation kind, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  static const std::string notable =
      std::string("{}[]:,\"\\ \t\r\n\f0-+.eEtfnu\x7f\x80\xbf\xc3\xed\xf4\xff") + '\0';
  static const std::string structural = "{}[]:,\"\\";
  if (line.empty()) kind = Mutation::insert;
  switch (kind) {
    case Mutation::flip:
      line[pick(line.size())] = pick(2) ? notable[pick(notable.size())] : char(pick(256));
      break;
    case Mutation::erase: line.erase(pick(line.size()), 1); break;
    case Mutation::insert:
      line.insert(line.begin() + std::ptrdiff_t(pick(line.size() + 1)),
                  structural[pick(structural.size())]);
      break;
    case Mutation::truncate: line.resize(pick(line.size())); break;
  }
  return line;
}

}  // namespace pspf::test
