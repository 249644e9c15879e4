// partition_state.cpp: the caches beside a partition (event ids, key versions,
// producer marks) are built from the records the caller's BatchSource hands out, not
// from a reader PartitionState finds for itself.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "damage.h"
#include "pspf/batch.h"
#include "pspf/partition_state.h"
#include "test_util.h"

using namespace pspf;

namespace {

// Batches held in memory, handed out in offset order.
struct MemoryBatches {
  std::vector<std::string> batches;
  int opened = 0;
};

class MemorySource final : public BatchSource {
 public:
  explicit MemorySource(const MemoryBatches& m) : m_(m) {}
  Offset log_start() override {
    return m_.batches.empty() ? Offset(0) : decode_batch_header(m_.batches[0].data()).base_offset;
  }
  void seek(Offset o) override {
    next_ = 0;
    while (next_ + 1 < m_.batches.size() &&
           decode_batch_header(m_.batches[next_ + 1].data()).base_offset <= o)
      ++next_;
  }
  void seek_time(Timestamp) override { next_ = 0; }
  bool next(BatchRef& b) override {
    if (next_ >= m_.batches.size()) return false;
    b.data = m_.batches[next_].data();
    b.header = decode_batch_header(b.data);
    ++next_;
    return true;
  }

 private:
  const MemoryBatches& m_;  // borrowed: outlives every source the test opens
  size_t next_ = 0;
};

// A batch of `count` records with keys "k<first>"..., sealed at `base`.
std::string batch(int first, int count, int64_t base) {
  BatchBuilder b;
  test::fill(b, first, count);
  return std::string(b.seal(Offset(base), Timestamp(1000 + base)));
}

}  // namespace

TEST_CASE("key versions are counted from the records the caller's source hands out") {
  test::TempDir dir;  // holds the key index only: there is no segment to find
  MemoryBatches m;
  m.batches = {batch(0, 5, 0), batch(0, 5, 5), batch(3, 4, 10)};  // k3, k4: 3 events each
  PartitionState st(dir.path(), "t/0", DedupWindow{}, [&] {
    ++m.opened;
    return std::make_unique<MemorySource>(m);
  });
  CHECK(st.key_version("k0", Offset(14)) == 1);
  CHECK(st.key_version("k3", Offset(14)) == 2);
  CHECK(st.key_version("k6", Offset(14)) == 0);
  CHECK(st.key_version("k9", Offset(14)) == -1);
  CHECK(m.opened > 0);
  // Up to an end inside the log: only the records below it count.
  PartitionState early(dir.path(), "t/0", DedupWindow{},
                       [&] { return std::make_unique<MemorySource>(m); });
  CHECK(early.peek_key_version("k3", Offset(10), Offset(14)) == 1);
}

TEST_CASE("a damaged key index is rebuilt from the records, never trusted") {
  test::TempDir dir;
  MemoryBatches m;
  m.batches = {batch(0, 5, 0), batch(0, 5, 5), batch(3, 4, 10)};
  auto open = [&] { return std::make_unique<MemorySource>(m); };
  std::string path = dir.path() + "/keys.hix";
  {
    PartitionState st(dir.path(), "t/0", DedupWindow{}, open);
    REQUIRE(st.key_version("k3", Offset(14)) == 2);
  }
  std::string good = test::read_bytes(path);
  // Each slot's bytes overwritten in turn: the versions stay exact, read from the
  // records again.
  size_t damaged = 0;
  for (size_t at = 64; at + 32 <= good.size(); at += 32) {
    if (good.find_first_not_of('\0', at) >= at + 32) continue;  // an empty slot
    ++damaged;
    test::write_bytes(path, test::write_at(good, at + 8, std::string(8, '\x5a')));
    PartitionState st(dir.path(), "t/0", DedupWindow{}, open);
    const int64_t want[] = {1, 1, 1, 2, 2, 0, 0, -1};
    for (int k = 0; k < 8; ++k) CHECK(st.key_version(fmt::format("k{}", k), Offset(14)) == want[k]);
  }
  CHECK(damaged == 7);  // k0 .. k6
}
