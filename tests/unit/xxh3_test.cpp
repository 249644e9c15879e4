// xxh3_64 through each vector unit this CPU has gives the library's value
// (pspf/xxh3.h): the checksums on disk do not depend on the machine that wrote them.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "pspf/xxh3.h"

using namespace pspf;

namespace {

std::vector<Xxh3Unit> units() {
  std::vector<Xxh3Unit> out;
  for (Xxh3Unit u : {Xxh3Unit::baseline, Xxh3Unit::avx2, Xxh3Unit::avx512})
    if (xxh3_unit_available(u)) out.push_back(u);
  return out;
}

}  // namespace

TEST_CASE("every unit gives the library's XXH3-64 on every length to 4 KB, any alignment") {
  std::mt19937_64 rng(12345);
  std::string bytes(4096 + 64, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  uint64_t checked = 0;
  for (Xxh3Unit u : units()) {
    for (size_t n = 0; n <= 4096; ++n) {
      size_t at = n % 61;  // unaligned starts too
      uint64_t seed = n % 3 == 0 ? 0 : n;
      uint64_t want = XXH3_64bits_withSeed(bytes.data() + at, n, seed);
      if (xxh3_64_with(u, bytes.data() + at, n, seed) != want) {
        FAIL_CHECK("unit ", static_cast<int>(u), " differs at length ", n);
        break;
      }
      ++checked;
    }
  }
  CHECK(checked == 4097 * units().size());
  // xxh3_64 is the unit it says it chose.
  CHECK(xxh3_unit_available(xxh3_unit()));
  CHECK(xxh3_64(bytes.data(), 1000, 7) == XXH3_64bits_withSeed(bytes.data(), 1000, 7));
  CHECK(xxh3_64(bytes.data(), 1000) == XXH3_64bits(bytes.data(), 1000));
}

TEST_CASE("every unit gives the library's XXH3-64 on large inputs (batches of 1 MB and more)") {
  std::mt19937_64 rng(99);
  std::string bytes((3 << 20) + 17, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  for (Xxh3Unit u : units())
    for (size_t n : {size_t{1} << 20, (size_t{1} << 20) + 1, size_t{3} << 20, bytes.size()})
      for (uint64_t seed : {uint64_t{0}, uint64_t{n}}) {
        CAPTURE(static_cast<int>(u));
        CAPTURE(n);
        CHECK(xxh3_64_with(u, bytes.data(), n, seed) ==
              XXH3_64bits_withSeed(bytes.data(), n, seed));
      }
}

TEST_CASE("the baseline is always available; a CPU with AVX-512 (F) reports AVX2 too") {
  CHECK(xxh3_unit_available(Xxh3Unit::baseline));
  if (xxh3_unit_available(Xxh3Unit::avx512)) CHECK(xxh3_unit_available(Xxh3Unit::avx2));
}

TEST_CASE("a stream of pieces, through every unit, gives the library's hash of the whole") {
  std::mt19937_64 rng(7);
  std::string bytes((1 << 20) + 333, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  for (Xxh3Unit unit : {Xxh3Unit::baseline, Xxh3Unit::avx2, Xxh3Unit::avx512}) {
    if (!xxh3_unit_available(unit)) continue;
    for (int round = 0; round < 50; ++round) {
      size_t n = round < 10 ? size_t(round) * 37 : static_cast<size_t>(rng() % bytes.size());
      uint64_t seed = round % 2 ? n : 0;
      Xxh3Stream s(seed, unit);
      for (size_t at = 0; at < n;) {
        size_t piece = std::min<size_t>(n - at, rng() % 70000);
        s.update(bytes.data() + at, piece);
        at += piece;
      }
      CAPTURE(static_cast<int>(unit));
      CAPTURE(n);
      CHECK(s.digest() == xxh3_64_with(Xxh3Unit::baseline, bytes.data(), n, seed));
    }
  }
  // The stream of pspf's readers: the CPU's widest unit.
  Xxh3Stream s(5);
  s.update(bytes.data(), 1000);
  s.update(bytes.data() + 1000, bytes.size() - 1000);
  CHECK(s.digest() == xxh3_64_with(Xxh3Unit::baseline, bytes.data(), bytes.size(), 5));
}
