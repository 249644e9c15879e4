// hash_index.cpp (KeyIndex, IdIndex): colliding hashes are told apart by the caller's
// confirmation, the table says when it must grow, a published table reloads as it was,
// and a damaged one is refused (header) or reported (slot), never trusted.
#include <doctest/doctest.h>
#include <fcntl.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "damage.h"
#include "pspf/file.h"
#include "pspf/hash_index.h"
#include "test_util.h"

using namespace pspf;

namespace {

constexpr uint32_t kKind = 2;

// The offsets of the slots find() shows `f`, in probe order.
std::vector<int64_t> probed(KeyIndex& t, uint64_t h) {
  std::vector<int64_t> seen;
  t.find(h, [&](const KeyIndex::Slot& s) {
    seen.push_back(s.offset);
    return false;
  });
  return seen;
}

// Byte position of the first occupied slot of a key index file.
size_t first_slot_at(const std::string& bytes) {
  for (size_t at = 64; at + 32 <= bytes.size(); at += 32)
    if (bytes.find_first_not_of('\0', at) < at + 32) return at;
  return 0;
}

}  // namespace

TEST_CASE("entries with one hash are all offered, in insertion order, until one is confirmed") {
  test::TempDir dir;
  auto t = KeyIndex::create(dir.path() + "/keys.hix", kKind, 16, 0);
  REQUIRE(t->slot_count() == 1024);  // the smallest table
  uint64_t h = 7;
  t->insert(h, 10, 0);
  t->insert(h + 1024, 11, 5);  // another hash, the same home slot
  t->insert(h, 12, 1);
  CHECK(probed(*t, h) == std::vector<int64_t>{10, 12});
  CHECK(probed(*t, h + 1024) == std::vector<int64_t>{11});
  KeyIndex::Slot* s = t->find(h, [](const KeyIndex::Slot& x) { return x.offset == 12; });
  REQUIRE(s);
  CHECK(s->aux == 1);
  t->update(s, 20, 2);
  CHECK(probed(*t, h) == std::vector<int64_t>{10, 20});
  CHECK(t->find(h, [](const KeyIndex::Slot&) { return false; }) == nullptr);
  CHECK(t->used() == 3);
}

TEST_CASE("a table is full once one more entry would fill it past half") {
  test::TempDir dir;
  auto t = KeyIndex::create(dir.path() + "/keys.hix", kKind, 4, 0);
  CHECK(t->slot_count() == 1024);
  for (uint64_t i = 1; i <= 511; ++i) t->insert(i, static_cast<int64_t>(i), 0);
  CHECK_FALSE(t->full());
  t->insert(512, 512, 0);
  CHECK(t->full());  // one more would fill 513 of 1024 slots
  // Growing is copying into a bigger table (the owner does it): every entry survives.
  auto bigger = KeyIndex::create(dir.path() + "/keys.hix", kKind, t->used() * 2, 512);
  t->for_each([&](const KeyIndex::Slot& e) { bigger->insert(e.hash, e.offset, e.aux + 100); });
  bigger->seal_header();
  bigger->publish();
  CHECK(bigger->slot_count() == 2048);
  CHECK(bigger->used() == 512);
  for (uint64_t i = 1; i <= 512; ++i)
    CHECK(probed(*bigger, i) == std::vector<int64_t>{static_cast<int64_t>(i)});
}

TEST_CASE("a published table reloads with its entries and covered end; another kind does not") {
  test::TempDir dir;
  std::string path = dir.path() + "/keys.hix";
  CHECK(KeyIndex::open(path, kKind) == nullptr);  // missing
  {
    auto t = KeyIndex::create(path, kKind, 16, 0);
    t->insert(99, 42, 3);
    t->set_covered_end(43);
    t->seal_header();
    t->publish();
  }
  auto t = KeyIndex::open(path, kKind);
  REQUIRE(t);
  CHECK(t->covered_end() == 43);
  CHECK(t->sealed_covered_end() == 43);
  CHECK(t->used() == 1);
  KeyIndex::Slot* s = t->find(99, [](const KeyIndex::Slot&) { return true; });
  REQUIRE(s);
  CHECK(s->offset == 42);
  CHECK(s->aux == 3);
  CHECK(KeyIndex::open(path, kKind + 1) == nullptr);
  CHECK(KeyIndex::open(path, kKind, /*read_only=*/true) != nullptr);
}

TEST_CASE("a key slot updated by a writer that died unsealed leaves a table to rebuild") {
  // A key's slot counts the events up to its offset, the covered end says from where
  // the log is still to be counted: a slot updated for an append and a covered end
  // not yet moved past it counted that append twice in the next writer's catch-up,
  // and --expect-version refused the right version for ever.
  test::TempDir dir;
  std::string path = dir.path() + "/keys.hix";
  for (bool populated : {false, true}) {
    CAPTURE(populated);  // a store into the mapping, or a pwrite (MappedTable::write)
    {
      auto t = KeyIndex::create(path, kKind, 16, 0);
      t->insert(99, 42, 3);
      t->set_covered_end(43);
      t->publish();
    }
    {
      auto t = KeyIndex::open(path, kKind);
      REQUIRE(t);
      if (populated) t->expect(1 << 20);
      KeyIndex::Slot* s = t->find(99, [](const KeyIndex::Slot&) { return true; });
      REQUIRE(s);
      t->update(s, 43, 4);  // the append at 43; the process dies before set_covered_end(44)
      CHECK_FALSE(t->sealed_covered_end());  // a reader without the lock waits or reads the log
    }
    CHECK(KeyIndex::open(path, kKind) == nullptr);  // the next writer rebuilds it
    {
      auto t = KeyIndex::create(path, kKind, 16, 0);  // as it does
      t->insert(99, 43, 4);
      t->set_covered_end(44);
      t->publish();
    }
    auto t = KeyIndex::open(path, kKind);
    REQUIRE(t);
    CHECK(t->sealed_covered_end() == 44);
  }
}

TEST_CASE("a damaged key index is refused at its header and reported at its slots") {
  test::TempDir dir;
  std::string path = dir.path() + "/keys.hix";
  {
    auto t = KeyIndex::create(path, kKind, 16, 0);
    t->insert(99, 42, 3);
    t->set_covered_end(43);
    t->seal_header();
    t->publish();
  }
  std::string good = test::read_bytes(path);
  // Every bit of the header (its check covers it all): the table is not opened at all.
  for (uint64_t bit = 0; bit < 64 * 8; ++bit) {
    CAPTURE(bit);
    test::write_bytes(path, test::flip_bit(good, bit));
    CHECK(KeyIndex::open(path, kKind) == nullptr);
  }
  // Every bit of the occupied slot: a lookup that passes it throws IndexDamaged (the
  // owner rebuilds the file from the log).
  size_t at = first_slot_at(good);
  REQUIRE(at >= 64);
  for (uint64_t bit = at * 8; bit < (at + 32) * 8; ++bit) {
    CAPTURE(bit);
    test::write_bytes(path, test::flip_bit(good, bit));
    auto t = KeyIndex::open(path, kKind);
    REQUIRE(t);
    CHECK_THROWS_AS(t->for_each([](const KeyIndex::Slot&) {}), IndexDamaged);
  }
}

TEST_CASE(
    "a damaged id index slot is reported by a lookup that passes it, never taken for a miss") {
  test::TempDir dir;
  std::string path = dir.path() + "/ids.hix";
  uint64_t h = MappedTable::hash("event-1");
  {
    auto t = IdIndex::create(path, 16, 0);
    t->insert(h, 42);
    t->set_covered_end(43);
    t->publish();
  }
  std::string good = test::read_bytes(path);
  auto lookup = [&] {
    auto t = IdIndex::open(path);
    REQUIRE(t);
    return t->find(h, [](int64_t at) { return at == 42; });
  };
  CHECK(lookup() == 42);
  // Every bit of the occupied slot: a miss there would let a duplicate of event-1 in.
  size_t at = 64;
  while (at + 16 <= good.size() && good.find_first_not_of('\0', at) >= at + 16) at += 16;
  REQUIRE(at + 16 <= good.size());
  for (uint64_t bit = at * 8; bit < (at + 16) * 8; ++bit) {
    CAPTURE(bit);
    test::write_bytes(path, test::flip_bit(good, bit));
    CHECK_THROWS_AS(lookup(), IndexDamaged);
  }
  // Every bit of the header: the table is not opened (the owner rebuilds it).
  for (uint64_t bit = 0; bit < 64 * 8; ++bit) {
    CAPTURE(bit);
    test::write_bytes(path, test::flip_bit(good, bit));
    CHECK(IdIndex::open(path) == nullptr);
  }
}

namespace {
// Bytes of the mappings of `path` in this process that are dirty (smaps), or -1 when
// smaps does not list it.
long dirty_bytes_mapped(const std::string& path) {
  std::istringstream smaps(test::read_bytes("/proc/self/smaps"));
  long dirty = -1;
  bool in = false;
  for (std::string line; std::getline(smaps, line);) {
    std::string first = line.substr(0, line.find(' '));
    if (first.empty() || first.back() != ':') {  // a mapping: "start-end perms ... path"
      in = line.size() >= path.size() &&
           line.compare(line.size() - path.size(), path.size(), path) == 0;
      if (in && dirty < 0) dirty = 0;
    } else if (in && (first == "Shared_Dirty:" || first == "Private_Dirty:")) {
      dirty += std::stol(line.substr(first.size())) * 1024;  // "N kB"
    }
  }
  return dirty;
}

// Sectors (512 bytes) written so far to the block device that holds `path`, or
// nothing when it is on none (a tmpfs, an overlay).
std::optional<uint64_t> sectors_written(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  std::ifstream f(fmt::format("/sys/dev/block/{}:{}/stat", major(st.st_dev), minor(st.st_dev)));
  uint64_t field[7];
  for (auto& v : field)
    if (!(f >> v)) return std::nullopt;
  return field[6];
}
}  // namespace

TEST_CASE("a writer that opens a table writes back only the pages it changes") {
  // Every writer opens the partition's tables, most of them for one event: a whole
  // table made dirty at each open was written back to the disk for one appended event
  // (34 MB for an id index of 1M events, twice that with the key index). A table made
  // by an import lives in 2 MB pages of the page cache (MappedTable::populate), and one
  // store into such a page through the mapping makes all of it dirty.
  test::TempDir dir;
  std::string path = dir.path() + "/ids.hix";
  constexpr uint64_t kIds = 300000;  // 600,000 slots: 9.6 MB, several 2 MB pages
  {
    auto t = IdIndex::create(path, kIds, 0);
    for (uint64_t i = 0; i < kIds; ++i)
      t->insert(MappedTable::hash("id-" + std::to_string(i)), static_cast<int64_t>(i));
    t->seal_header();
    t->publish();
  }
  Fd fd = open_file(path, O_RDWR);
  sync_data(fd.get(), path);  // the file's pages are clean now
  auto t = IdIndex::open(path);
  REQUIRE(t);
  long table_bytes = static_cast<long>(test::read_bytes(path).size());
  long before = dirty_bytes_mapped(path);
  REQUIRE(before >= 0);  // smaps lists the mapping
  CHECK(before < table_bytes / 8);
  // One id at a time, as a process that appends one event does: looked up, inserted,
  // the covered end moved on; then the file is synced and what reached the device is
  // counted. The least of three tries: the device is shared with the rest of the machine.
  std::optional<uint64_t> least;
  for (int i = 0; i < 3; ++i) {
    auto id = static_cast<int64_t>(kIds) + i;
    uint64_t h = MappedTable::hash("one-more-" + std::to_string(i));
    IdIndex::Slot* empty = nullptr;
    REQUIRE_FALSE(t->find(
        h, [](int64_t) { return true; }, &empty));
    std::optional<uint64_t> s0 = sectors_written(path);
    t->insert_at(empty, h, id);
    t->set_covered_end(id + 1);
    sync_data(fd.get(), path);
    std::optional<uint64_t> s1 = sectors_written(path);
    if (s0 && s1) least = std::min(least.value_or(~uint64_t(0)), (*s1 - *s0) * 512);
  }
  // What was written is what a reader finds.
  auto again = IdIndex::open(path);
  REQUIRE(again);
  CHECK(again->covered_end() == static_cast<int64_t>(kIds) + 3);
  CHECK(again->used() == kIds + 3);
  for (int i = 0; i < 3; ++i) {
    auto found = again->find(MappedTable::hash("one-more-" + std::to_string(i)),
                             [](int64_t) { return true; });
    CHECK(found == std::optional<int64_t>(static_cast<int64_t>(kIds) + i));
  }
  if (!least) {
    MESSAGE("the table is on no block device: the bytes written back are not counted");
    return;
  }
  // The slot's block, the header's, and the journal's: tens of KB, not megabytes.
  CHECK(*least <= 256 * 1024);
}
