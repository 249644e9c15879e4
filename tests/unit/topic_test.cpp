// Topics: creation whole or not at all, listing, deletion, names.
#include <doctest/doctest.h>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/paths.h"
#include "pspf/topic.h"
#include "test_util.h"

using namespace pspf;

TEST_CASE("a created topic has its settings and every partition directory") {
  test::TempDir dir;
  TopicConfig cfg;
  cfg.name = "orders";
  cfg.partitions = 3;
  cfg.segment_bytes = 4096;
  TopicConfig made = create_topic(dir.path() + "/data", cfg);
  CHECK(made.created_ms > 0);
  TopicConfig loaded = load_topic(dir.path() + "/data", "orders");
  CHECK(loaded.partitions == 3);
  CHECK(loaded.segment_bytes == 4096);
  for (int p = 0; p < 3; ++p)
    CHECK(path_exists(paths::partition_dir(dir.path() + "/data", "orders", PartitionId(p))));
  CHECK(list_topics(dir.path() + "/data") == std::vector<std::string>{"orders"});
}

TEST_CASE("creating an existing topic fails and changes nothing") {
  test::TempDir dir;
  TopicConfig cfg;
  cfg.name = "t";
  cfg.partitions = 2;
  create_topic(dir.path(), cfg);
  cfg.partitions = 5;
  try {
    create_topic(dir.path(), cfg);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::exists);
  }
  CHECK(load_topic(dir.path(), "t").partitions == 2);
}

TEST_CASE("bad names and sizes are usage errors and create nothing") {
  test::TempDir dir;
  for (const char* name : {"", ".", "..", "a/b", "../x", "x y", "caf\xc3\xa9"}) {
    CAPTURE(name);
    TopicConfig cfg;
    cfg.name = name;
    try {
      create_topic(dir.path(), cfg);
      FAIL("expected a usage error");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::usage);
    }
  }
  TopicConfig cfg;
  cfg.name = std::string(250, 'n');
  CHECK_THROWS_AS(create_topic(dir.path(), cfg), Error);
  cfg.name = std::string(249, 'n');
  CHECK(create_topic(dir.path(), cfg).name.size() == 249);
  cfg.name = "p0";
  cfg.partitions = 0;
  CHECK_THROWS_AS(create_topic(dir.path(), cfg), Error);
  cfg.partitions = 1;
  cfg.segment_bytes = kMaxSegmentBytes + 1;
  CHECK_THROWS_AS(create_topic(dir.path(), cfg), Error);
  CHECK(list_topics(dir.path()).size() == 1);
}

TEST_CASE("a deleted topic is gone at once and its name can be used again") {
  test::TempDir dir;
  TopicConfig cfg;
  cfg.name = "t";
  create_topic(dir.path(), cfg);
  delete_topic(dir.path(), "t");
  CHECK_FALSE(find_topic(dir.path(), "t").has_value());
  CHECK(list_topics(dir.path()).empty());
  CHECK_THROWS_AS(delete_topic(dir.path(), "t"), Error);
  cfg.partitions = 4;
  CHECK(create_topic(dir.path(), cfg).partitions == 4);
}

TEST_CASE("a topic file from a newer format is refused, not misread") {
  test::TempDir dir;
  TopicConfig cfg;
  cfg.name = "t";
  create_topic(dir.path(), cfg);
  write_file_atomic(paths::topic_meta(dir.path(), "t"),
                    R"({"format":2,"name":"t","partitions":1})");
  CHECK_THROWS_AS(load_topic(dir.path(), "t"), Error);
}
