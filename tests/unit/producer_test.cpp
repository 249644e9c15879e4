// Producer: where records go (key, else id, else sticky).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "pspf/error.h"
#include "pspf/log.h"
#include "pspf/murmur2.h"
#include "pspf/partition.h"
#include "pspf/producer.h"
#include "test_util.h"

using namespace pspf;

TEST_CASE("a keyless record with an id goes where its id would go as a key, in every producer") {
  test::TempDir d;
  Log log(d.path());
  for (int32_t n : {3, 7, 12}) {
    CAPTURE(n);
    bool created = false;
    TopicConfig t = log.open_or_create(fmt::format("t{}", n), n, created);
    Producer first(log, t, SyncMode::none), rerun(log, t, SyncMode::none);
    std::vector<int> seen(static_cast<size_t>(n));
    for (int i = 0; i < 60; ++i) {
      std::string id = fmt::format("import/{}", i);
      std::string_view idv = id;
      CAPTURE(id);
      PartitionId p = first.route(nullptr, &idv);
      CHECK(p.value == partition_for_key(id, n).value);
      CHECK(p.value == first.route(&idv, nullptr).value);
      CHECK(p.value == rerun.route(nullptr, &idv).value);
      ++seen[static_cast<size_t>(p.value)];
    }
    // The ids spread: no partition gets them all.
    for (int c : seen) CHECK(c < 60);
    // A key decides over an id.
    std::string_view key = "k", idv = "import/0";
    CHECK(first.route(&key, &idv).value == partition_for_key("k", n).value);
  }
}
