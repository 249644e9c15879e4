// Topics: creation whole or not at all, listing, deletion, names.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <xxhash.h>

#include <nlohmann/json.hpp>
#include <vector>

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

TEST_CASE("topic.json carries a checksum: a changed field is refused, an old file still reads") {
  test::TempDir dir;
  TopicConfig cfg;
  cfg.name = "t";
  cfg.partitions = 4;
  create_topic(dir.path(), cfg);
  std::string meta = paths::topic_meta(dir.path(), "t");
  std::string text = read_small_file(meta);
  auto at = text.find("\"checksum\": \"");
  REQUIRE(at != std::string::npos);
  CHECK(text.substr(at + 29) == "\"\n}\n");  // 16 hex digits, the last field
  // Layout does not matter, the fields do.
  std::string compact = nlohmann::ordered_json::parse(text).dump();
  write_file_atomic(meta, compact);
  CHECK(load_topic(dir.path(), "t").partitions == 4);
  std::string lowered = text;
  lowered.replace(lowered.find("\"partitions\": 4"), 15, "\"partitions\": 3");
  write_file_atomic(meta, lowered);
  CHECK_THROWS_WITH_AS(load_topic(dir.path(), "t"),
                       (meta + ": checksum mismatch (the file was changed outside pspf-topics; "
                               "its fields cannot be trusted)")
                           .c_str(),
                       Error);
  // Written before checksums: read as it is; the next alter adds one.
  write_file_atomic(meta, R"({"format":1,"name":"t","partitions":4,"segment_bytes":4096})");
  CHECK(load_topic(dir.path(), "t").segment_bytes == 4096);
  alter_topic(dir.path(), "t", [](TopicConfig& c) { c.segment_bytes = 8192; });
  CHECK(read_small_file(meta).find("\"checksum\"") != std::string::npos);
  CHECK(load_topic(dir.path(), "t").segment_bytes == 8192);
}

TEST_CASE("a field pspf does not know is read past under a checksum, else refused") {
  test::TempDir dir;
  TopicConfig cfg;
  cfg.name = "t";
  create_topic(dir.path(), cfg);
  std::string meta = paths::topic_meta(dir.path(), "t");
  std::string text = read_small_file(meta);
  auto refused = [&](const std::string& changed, const std::string& field) {
    write_file_atomic(meta, changed);
    CHECK_THROWS_WITH_AS(load_topic(dir.path(), "t"),
                         (meta + ": unknown field \"" + field +
                          "\" in a file without a checksum (a damaged or hand-edited file: "
                          "pspf-log(5) lists the fields)")
                             .c_str(),
                         Error);
  };
  // One flipped bit in the name "checksum" (h ^ 1 = i) left a file read unchecked:
  // a second flip in a field would then go unseen.
  std::string flipped = text;
  flipped[flipped.find("\"checksum\"") + 2] ^= 1;
  refused(flipped, "ciecksum");
  // A misspelt field in a hand-written file would otherwise fall back to its default.
  refused(R"({"format":1,"name":"t","partitions":1,"segment_byts":4096})", "segment_byts");
  // A field a newer pspf added, under a checksum that covers it: read past.
  auto j = nlohmann::ordered_json::parse(text);
  j.erase("checksum");
  j["added_later"] = 7;
  std::string fields = j.dump(2) + "\n";
  j["checksum"] = fmt::format("{:016x}", XXH3_64bits(fields.data(), fields.size()));
  write_file_atomic(meta, j.dump(2) + "\n");
  CHECK(load_topic(dir.path(), "t").partitions == cfg.partitions);
  // The same field with the checksum's name damaged: refused.
  std::string named = j.dump(2) + "\n";
  named[named.find("\"checksum\"") + 2] ^= 1;
  refused(named, "added_later");
}

TEST_CASE("partition directories that disagree with the partition count are found") {
  test::TempDir dir;
  TopicConfig cfg;
  cfg.name = "t";
  cfg.partitions = 3;
  TopicConfig t = create_topic(dir.path(), cfg);
  PartitionDirs d = check_partition_dirs(dir.path(), t);
  CHECK(d.missing.empty());
  CHECK(d.extra.empty());
  std::string p1 = paths::partition_dir(dir.path(), "t", PartitionId(1));
  remove_tree(p1);
  std::string top = paths::topic_dir(dir.path(), "t");
  make_dir(top + "/3");
  make_dir(top + "/01");
  d = check_partition_dirs(dir.path(), t);
  CHECK(d.missing == std::vector<std::pair<int32_t, std::string>>{{1, p1}});
  CHECK(d.extra ==
        std::vector<std::pair<std::string, std::string>>{{"01", top + "/01"}, {"3", top + "/3"}});
}

namespace {

// topic.json as pspf wrote it before topic_to_json was written by hand: nlohmann's
// dump(2) of the fields, then the checksum of that text.
std::string nlohmann_form(const TopicConfig& t) {
  nlohmann::ordered_json j;
  j["format"] = 1;
  j["name"] = t.name;
  j["partitions"] = t.partitions;
  j["created"] = t.created_ms;
  j["segment_bytes"] = t.segment_bytes;
  if (t.dedup_window.events > 0)
    j["dedup_window_events"] = t.dedup_window.events;
  else
    j["dedup_window_ms"] = t.dedup_window.ms;
  j["cleanup_policy"] = format_cleanup_policy(t.cleanup);
  j["retention_ms"] = t.retention_ms;
  j["retention_bytes"] = t.retention_bytes;
  j["delete_retention_ms"] = t.delete_retention_ms;
  j["min_compaction_lag_ms"] = t.min_compaction_lag_ms;
  std::string text = j.dump(2) + "\n";
  j["checksum"] = fmt::format("{:016x}", XXH3_64bits(text.data(), text.size()));
  return j.dump(2) + "\n";
}

}  // namespace

TEST_CASE("topic.json is written byte for byte as before and reads back every field") {
  std::vector<TopicConfig> configs(4);
  configs[0].name = "t";
  configs[1].name = "orders.v2_x-y";
  configs[1].partitions = kMaxPartitions;
  configs[1].created_ms = 1767225600123;
  configs[1].segment_bytes = kMaxSegmentBytes;
  configs[1].dedup_window.events = 10'000'000;
  configs[1].dedup_window.ms = 0;
  configs[1].cleanup = {true, true};
  configs[1].retention_ms = 3'600'000;
  configs[1].retention_bytes = 1ll << 40;
  configs[2].name = "c";
  configs[2].cleanup = {true, false};
  configs[2].delete_retention_ms = 0;
  configs[2].min_compaction_lag_ms = 5000;
  configs[3].name = std::string(249, 'n');
  configs[3].dedup_window.ms = 0;
  for (const TopicConfig& c : configs) {
    CAPTURE(c.name);
    std::string text = topic_to_json(c);
    CHECK(text == nlohmann_form(c));
    TopicConfig back = topic_from_json(text, "topic.json");
    CHECK(back.name == c.name);
    CHECK(back.partitions == c.partitions);
    CHECK(back.created_ms == c.created_ms);
    CHECK(back.segment_bytes == c.segment_bytes);
    CHECK(back.dedup_window.events == c.dedup_window.events);
    CHECK(back.dedup_window.ms == c.dedup_window.ms);
    CHECK(back.cleanup == c.cleanup);
    CHECK(back.retention_ms == c.retention_ms);
    CHECK(back.retention_bytes == c.retention_bytes);
    CHECK(back.delete_retention_ms == c.delete_retention_ms);
    CHECK(back.min_compaction_lag_ms == c.min_compaction_lag_ms);
  }
}

TEST_CASE("a topic.json in the written form with a field out of range is still refused") {
  TopicConfig c;
  c.name = "t";
  c.partitions = kMaxPartitions + 1;  // topic_to_json writes it; create_topic never would
  CHECK_THROWS_WITH_AS(topic_from_json(topic_to_json(c), "p/topic.json"),
                       "p/topic.json: partitions or segment_bytes out of range", Error);
  c.partitions = 1;
  c.retention_ms = -2;
  CHECK_THROWS_WITH_AS(topic_from_json(topic_to_json(c), "p/topic.json"),
                       "p/topic.json: a retention or compaction setting is out of range", Error);
}
