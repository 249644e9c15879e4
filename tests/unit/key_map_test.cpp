// key_map.h: the latest offset of each key, by 128-bit hash, through growth.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <utility>

#include "pspf/key_map.h"

using namespace pspf;

TEST_CASE("the latest offset put for each key is kept, and unknown keys are -1") {
  KeyMap m;
  CHECK(m.get("a") == -1);
  m.put("a", Offset(1));
  m.put("b", Offset(2));
  m.put("a", Offset(7));
  CHECK(m.get("a") == 7);
  CHECK(m.get("b") == 2);
  CHECK(m.get("") == -1);
  m.put("", Offset(0));  // the empty key is a key
  CHECK(m.get("") == 0);
  CHECK(m.size() == 3);
}

TEST_CASE("every key survives the table growing many times over") {
  KeyMap m;
  const int n = 20000;  // the table starts at 1024 slots
  for (int i = 0; i < n; ++i) m.put(fmt::format("key-{}", i), Offset(i));
  for (int i = 0; i < n; i += 2) m.put(fmt::format("key-{}", i), Offset(n + i));
  CHECK(m.size() == static_cast<size_t>(n));
  int wrong = 0;
  for (int i = 0; i < n; ++i) wrong += m.get(fmt::format("key-{}", i)) != (i % 2 == 0 ? n + i : i);
  CHECK(wrong == 0);
  CHECK(m.get(fmt::format("key-{}", n)) == -1);
}

TEST_CASE("KeyTable: a value per key hash, made on first use, kept through growth") {
  KeyTable<uint64_t> t;
  const int n = 5000;
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < n; ++i) t[key_hash(fmt::format("k{}", i))] += static_cast<uint64_t>(i);
  CHECK(t.size() == static_cast<size_t>(n));
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t* v = std::as_const(t).find(key_hash(fmt::format("k{}", i)));
    wrong += !v || *v != 3u * static_cast<uint64_t>(i);
  }
  CHECK(wrong == 0);
  CHECK(t.find(key_hash("unknown")) == nullptr);
  uint64_t sum = 0, values = 0;
  t.for_each([&](uint64_t v) { sum += v, ++values; });
  CHECK(values == static_cast<uint64_t>(n));
  CHECK(sum == 3u * static_cast<uint64_t>(n) * (n - 1) / 2);
}
