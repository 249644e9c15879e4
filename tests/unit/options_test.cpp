// Option values parsed the same way by every command (tools/common/options.h).
#include <doctest/doctest.h>

#include "common/options.h"
#include "pspf/error.h"

using namespace pspf;
using tool::parse_expect_version;

TEST_CASE("--expect-version: the words, numbers from -1, nothing else") {
  CHECK(parse_expect_version("any").kind == ExpectVersion::Kind::any);
  CHECK(parse_expect_version("exists").kind == ExpectVersion::Kind::exists);
  CHECK(parse_expect_version("no_stream").kind == ExpectVersion::Kind::no_stream);
  CHECK(parse_expect_version("-1").kind == ExpectVersion::Kind::no_stream);
  ExpectVersion e = parse_expect_version("41");
  CHECK(e.kind == ExpectVersion::Kind::exact);
  CHECK(e.version == 41);
  CHECK(parse_expect_version("9223372036854775807").version == INT64_MAX);
  for (const char* bad : {"-2", "maybe", "", "+1", " 1", "1 ", "1.0", "9223372036854775808", "Any"})
    CHECK_THROWS_AS(parse_expect_version(bad), Error);
}

TEST_CASE("partition lists: numbers and ranges, each once, within the topic") {
  TopicConfig t;
  t.name = "t";
  t.partitions = 5;
  auto ids = [&](std::string_view list) {
    std::vector<int32_t> out;
    for (PartitionId p : tool::parse_partition_list(list, t, "-p")) out.push_back(p.value);
    return out;
  };
  CHECK(ids("0") == std::vector<int32_t>{0});
  CHECK(ids("3,1") == std::vector<int32_t>{3, 1});
  CHECK(ids("1-3") == std::vector<int32_t>{1, 2, 3});
  CHECK(ids("4,1-2,2") == std::vector<int32_t>{4, 1, 2});
  for (const char* bad : {"", ",", "1,", ",1", "1-", "-1", "3-1", "5", "0-5", "x", "1 ", "+1"})
    CHECK_THROWS_AS(ids(bad), Error);
}
