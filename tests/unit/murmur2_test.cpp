// Partitioner values against Kafka's published murmur2 results (Kafka's UtilsTest and
// librdkafka's rdmurmur2 self-test use these strings).
#include <doctest/doctest.h>

#include "pspf/murmur2.h"

using pspf::murmur2;
using pspf::partition_for_key;

TEST_CASE("murmur2 matches Kafka's Utils.murmur2 for every tail length") {
  CHECK(murmur2("21") == -973932308);
  CHECK(murmur2("foobar") == -790332482);
  CHECK(murmur2("a-little-bit-long-string") == -985981536);
  CHECK(murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(murmur2("abc") == 479470107);
  CHECK(murmur2("1") == -1993445489);
  CHECK(murmur2("12") == 126087238);
  CHECK(murmur2("123") == -267702483);
  CHECK(murmur2("1234") == -1614185708);
  CHECK(murmur2("12345") == -1188365604);
  CHECK(murmur2("kafka") == -798503068);
}

TEST_CASE("partition is the positive murmur2 modulo the partition count") {
  // -973932308 & 0x7fffffff = 1173551340
  CHECK(partition_for_key("21", 4).value == 1173551340 % 4);
  CHECK(partition_for_key("21", 7).value == 1173551340 % 7);
  // -790332482 & 0x7fffffff = 1357151166
  CHECK(partition_for_key("foobar", 12).value == 1357151166 % 12);
  // 479470107 is already positive
  CHECK(partition_for_key("abc", 10).value == 479470107 % 10);
  CHECK(partition_for_key("anything", 1).value == 0);
}

TEST_CASE("the empty key hashes like Kafka's empty byte array") {
  // seed ^ 0, no blocks, no tail, then only the final mix (worked out by hand).
  CHECK(murmur2("") == 275646681);
}

// Kafka: Utils.toPositive(murmur2(key)) % numPartitions, toPositive(h) = h & 0x7fffffff.
// Every key here hashes negative, and the counts are not powers of two, so a partitioner
// that takes the hash as unsigned, or its absolute value, lands elsewhere for some of
// them (the right column of each comment); tests/cli/t0106-partitioner.sh checks the
// same placements through pspf-produce --key-field.
TEST_CASE("keys whose murmur2 is negative go where Kafka puts them with 3, 7 and 12 partitions") {
  struct Case {
    const char* key;
    int32_t hash;
    int32_t p3, p7, p12;
  };
  const Case cases[] = {
      // key                        murmur2       %3 %7 %12   (unsigned: %3 %7 %12)
      {"21", -973932308, 0, 3, 0},                            //  2 5 8
      {"foobar", -790332482, 0, 0, 6},                        //  2 2 2
      {"a-little-bit-long-string", -985981536, 2, 1, 8},      //  1 3 4
      {"a-little-bit-longer-string", -1486304829, 2, 0, 11},  // 1 2 7
      {"1", -1993445489, 0, 2, 3},                            //  2 4 11
      {"123", -267702483, 2, 3, 5},                           //  1 5 1
      {"1234", -1614185708, 0, 0, 0},                         //  2 2 8
      {"12345", -1188365604, 2, 3, 8},                        //  1 5 4
      {"kafka", -798503068, 1, 3, 4},                         //  0 5 0
  };
  int differs_from_unsigned = 0;
  for (const Case& c : cases) {
    CAPTURE(c.key);
    REQUIRE(murmur2(c.key) == c.hash);
    REQUIRE(c.hash < 0);
    const int32_t positive = c.hash & 0x7fffffff;
    // The literals above are Kafka's formula worked out once; keep them honest.
    CHECK(positive % 3 == c.p3);
    CHECK(positive % 7 == c.p7);
    CHECK(positive % 12 == c.p12);
    CHECK(partition_for_key(c.key, 3).value == c.p3);
    CHECK(partition_for_key(c.key, 7).value == c.p7);
    CHECK(partition_for_key(c.key, 12).value == c.p12);
    if (static_cast<uint32_t>(c.hash) % 7 != static_cast<uint32_t>(c.p7)) ++differs_from_unsigned;
  }
  // The cases can tell a missing mask from the right one.
  CHECK(differs_from_unsigned == 9);
}
