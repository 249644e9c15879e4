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
