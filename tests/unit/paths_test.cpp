// paths.cpp: names in the data directory are exactly those of pspf-log(5), topic and
// group names cannot reach outside it, and a file name is a segment, a swap file or
// a quarantine file only when it has exactly that form.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "pspf/error.h"
#include "pspf/paths.h"

using namespace pspf;

namespace {

// The message of the Error that check_name throws for `name`, "" if it throws none.
std::string name_error(const std::string& name, std::string_view what = "topic") {
  try {
    paths::check_name(name, what);
  } catch (const Error& e) {
    CHECK(e.code() == Errc::usage);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE(
    "names of 1 to 249 letters, digits, '.', '_' and '-' not beginning with '.' are accepted") {
  CHECK(name_error("orders") == "");
  CHECK(name_error("a") == "");
  CHECK(name_error("Orders.v2_eu-1") == "");
  CHECK(name_error("x.") == "");
  CHECK(name_error(std::string(249, 'n')) == "");
}

TEST_CASE("other names are refused with the reason, naming what was named") {
  CHECK(name_error("") == "invalid topic name '': it is empty");
  CHECK(name_error(std::string(250, 'n')) ==
        "invalid topic name '" + std::string(250, 'n') + "': longer than 249 characters");
  CHECK(name_error(".") ==
        "invalid topic name '.': it begins with '.' (names beginning with '.' are kept for "
        "temporaries)");
  CHECK(name_error("..", "group") ==
        "invalid group name '..': it begins with '.' (names beginning with '.' are kept for "
        "temporaries)");
  for (const std::string& bad :
       std::vector<std::string>{"a/b", "x/../y", "a b", "caf\xc3\xa9", "a\nb"})
    CHECK(name_error(bad).find("only letters, digits, '.', '_' and '-' are allowed") !=
          std::string::npos);
  CHECK(name_error(std::string("a\0b", 3)) != "");  // refused (what() stops at the NUL)
}

TEST_CASE("every path is the one pspf-log(5) gives") {
  const std::string d = "/d";
  CHECK(paths::topics_dir(d) == "/d/topics");
  CHECK(paths::tmp_dir(d) == "/d/tmp");
  std::string entry = paths::tmp_entry(d, "deleting-group");
  CHECK(entry.rfind(fmt::format("/d/tmp/deleting-group-{}-", ::getpid()), 0) == 0);
  CHECK(entry.find_first_not_of("0123456789abcdef", entry.rfind('-') + 1) == std::string::npos);
  CHECK(paths::topic_dir(d, "orders") == "/d/topics/orders");
  CHECK(paths::topic_meta(d, "orders") == "/d/topics/orders/topic.json");
  CHECK(paths::partition_dir(d, "orders", PartitionId(12)) == "/d/topics/orders/12");
  CHECK(paths::partition_lock("/p") == "/p/lock");
  CHECK(paths::removed_keys("/p") == "/p/removed-keys");
  CHECK(paths::compact_lock(d, "orders") == "/d/topics/orders/compact.lock");
  CHECK(paths::groups_dir(d) == "/d/groups");
  CHECK(paths::group_dir(d, "billing") == "/d/groups/billing");
  CHECK(paths::group_offsets("/g") == "/g/offsets.log");
  CHECK(paths::group_lock("/g") == "/g/lock");
  CHECK(paths::group_members_dir("/g") == "/g/members");
  CHECK(paths::group_owners_dir("/g", "orders") == "/g/owners/orders");
  CHECK(paths::group_owner_lock("/g", "orders", PartitionId(3)) == "/g/owners/orders/3");
  CHECK(paths::segment_file("/p", Offset(52317), paths::kLogExt) == "/p/00000000000000052317.log");
  CHECK(paths::segment_file("/p", Offset(0), paths::kIndexExt) == "/p/00000000000000000000.index");
  CHECK(paths::segment_file("/p", Offset(INT64_MAX), paths::kTimeIndexExt) ==
        "/p/09223372036854775807.timeindex");
  CHECK(paths::swap_file("/p", Offset(7), paths::kLogExt, 0xab) ==
        "/p/00000000000000000007.log.00000000000000ab.cleaned");
  CHECK(paths::quarantine_file("/p", Offset(0), 8190) ==
        "/p/00000000000000000000.log.8190.quarantine");
  CHECK(paths::quarantine_file("/p", Offset(5), 0, 2) ==
        "/p/00000000000000000005.log.0.2.quarantine");
}

TEST_CASE("a path with a name that is not a name throws before it is built") {
  CHECK_THROWS_AS(paths::topic_dir("/d", ".."), Error);
  CHECK_THROWS_AS(paths::partition_dir("/d", "a/../../etc", PartitionId(0)), Error);
  CHECK_THROWS_AS(paths::group_dir("/d", "../topics"), Error);
  CHECK_THROWS_AS(paths::group_owner_lock("/g", "..", PartitionId(0)), Error);
}

TEST_CASE("a segment name is exactly 20 decimal digits and the extension") {
  CHECK(paths::parse_segment_name("00000000000000052317.log", paths::kLogExt) == Offset(52317));
  CHECK(paths::parse_segment_name("00000000000000000000.index", paths::kIndexExt) == Offset(0));
  CHECK(paths::parse_segment_name("09223372036854775807.timeindex", paths::kTimeIndexExt) ==
        Offset(INT64_MAX));
  CHECK_FALSE(paths::parse_segment_name("00000000000000052317.log", paths::kIndexExt));
  CHECK_FALSE(paths::parse_segment_name("0000000000000052317.log", paths::kLogExt));    // 19 digits
  CHECK_FALSE(paths::parse_segment_name("000000000000000052317.log", paths::kLogExt));  // 21
  CHECK_FALSE(
      paths::parse_segment_name("00000000000000052317.log.8190.quarantine", paths::kLogExt));
  CHECK_FALSE(paths::parse_segment_name("00000000000000052317.log.00000000000000ab.cleaned",
                                        paths::kLogExt));
  CHECK_FALSE(paths::parse_segment_name("0000000000000005231x.log", paths::kLogExt));
  CHECK_FALSE(paths::parse_segment_name("99999999999999999999.log", paths::kLogExt));  // > i64
  // A sign is not a digit: "-0000000000000000000" would otherwise read as offset 0.
  CHECK_FALSE(paths::parse_segment_name("-0000000000000000000.log", paths::kLogExt));
  CHECK_FALSE(paths::parse_segment_name("-0000000000000000001.log", paths::kLogExt));
  CHECK_FALSE(paths::parse_segment_name("+0000000000000000001.log", paths::kLogExt));
  CHECK_FALSE(paths::parse_segment_name(".log", paths::kLogExt));
}

TEST_CASE("a swap file name gives back its base, extension and token") {
  for (std::string_view ext : {paths::kLogExt, paths::kIndexExt, paths::kTimeIndexExt}) {
    std::string path = paths::swap_file("/p", Offset(52317), ext, 0x0123456789abcdefULL);
    auto s = paths::parse_swap_name(path.substr(3));
    REQUIRE(s);
    CHECK(s->base == Offset(52317));
    CHECK(s->ext == ext);
    CHECK(s->token == 0x0123456789abcdefULL);
  }
  CHECK_FALSE(paths::parse_swap_name("00000000000000052317.log"));
  CHECK_FALSE(paths::parse_swap_name("00000000000000052317.log.0123456789abcde.cleaned"));
  CHECK_FALSE(paths::parse_swap_name("00000000000000052317.log-0123456789abcdef.cleaned"));
  CHECK_FALSE(paths::parse_swap_name("00000000000000052317.lag.0123456789abcdef.cleaned"));
  CHECK_FALSE(paths::parse_swap_name("00000000000000052317.log.0123456789abcdeg.cleaned"));
  CHECK_FALSE(paths::parse_swap_name("x.cleaned"));
}
