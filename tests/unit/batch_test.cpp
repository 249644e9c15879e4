// Batches: header round trip, checksums, record iteration.
#include <doctest/doctest.h>

#include <cstring>

#include "pspf/batch.h"
#include "pspf/error.h"
#include "test_util.h"

using namespace pspf;

TEST_CASE("a sealed batch decodes to the header it was sealed with") {
  BatchBuilder b;
  test::fill(b, 0, 3);
  std::string_view bytes = b.seal(Offset(40), Timestamp(1764000000000));
  BatchHeader h = decode_batch_header(bytes.data());
  CHECK(h.length == bytes.size());
  CHECK(h.base_offset.value == 40);
  CHECK(h.record_count == 3);
  CHECK(h.last_offset_delta == 2);
  CHECK(h.next_offset().value == 43);
  CHECK(h.first_timestamp.value == 1764000000000);
  CHECK(h.max_timestamp.value == 1764000000000);
  CHECK(h.checksum == batch_checksum(bytes.data(), bytes.size()));
  CHECK_FALSE(header_problem(h).has_value());
}

TEST_CASE("records come back with their offsets, keys, ids, headers and values") {
  BatchBuilder b;
  std::string_view k = "item-1", id = "e-1";
  Buffer headers;
  msgpack_put_map_header(headers, 1);
  msgpack_put_str(headers, "source");
  msgpack_put_str(headers, "cron");
  std::string v0 = test::value_of(0), v1 = test::value_of(1);
  b.add(&k, &id, headers.view(), v0);
  b.add(nullptr, nullptr, {}, v1);
  std::string_view bytes = b.seal(Offset(7), Timestamp(5));
  BatchHeader h = decode_batch_header(bytes.data());
  RecordIterator it(bytes.data(), h);
  RecordView r;
  REQUIRE(it.next(r));
  CHECK(r.offset.value == 7);
  CHECK(r.timestamp.value == 5);
  CHECK(r.has_key);
  CHECK(r.key == "item-1");
  CHECK(r.has_id);
  CHECK(r.id == "e-1");
  CHECK(r.headers == headers.view());
  CHECK(r.value == v0);
  REQUIRE(it.next(r));
  CHECK(r.offset.value == 8);
  CHECK_FALSE(r.has_key);
  CHECK_FALSE(r.has_id);
  CHECK(r.headers.empty());
  CHECK(r.value == v1);
  CHECK_FALSE(it.next(r));
}

TEST_CASE("a single bit flipped anywhere fails the header check or the checksum") {
  BatchBuilder b;
  test::fill(b, 0, 20);
  std::string bytes(b.seal(Offset(0), Timestamp(1)));
  CHECK(decode_batch_header(bytes.data()).checksum == batch_checksum(bytes.data(), bytes.size()));
  CHECK(decode_batch_header(bytes.data()).header_check == header_checksum(bytes.data()));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(i);
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      BatchHeader h = decode_batch_header(bytes.data());
      bool caught = header_checksum(bytes.data()) != h.header_check ||
                    batch_checksum(bytes.data(), bytes.size()) != h.checksum;
      CHECK(caught);
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
    }
  }
}

TEST_CASE("headers with impossible lengths or counts are refused") {
  BatchHeader h;
  h.length = 10;
  h.record_count = 1;
  CHECK(header_problem(h).has_value());
  h.length = kMaxBatchBytes + 1;
  CHECK(header_problem(h).has_value());
  h.length = 100;
  h.record_count = 0;
  CHECK(header_problem(h).has_value());
  h.record_count = 5;
  h.last_offset_delta = 3;
  CHECK(header_problem(h).has_value());
  h.last_offset_delta = 9;  // gaps left by compaction are fine
  CHECK_FALSE(header_problem(h).has_value());
}

TEST_CASE("a checksum-valid batch with malformed records throws corrupt, not a crash") {
  BatchBuilder b;
  test::fill(b, 0, 2);
  std::string bytes(b.seal(Offset(0), Timestamp(1)));
  bytes[kBatchHeaderSize] = 0x11;  // not the 6-element record array
  BatchHeader h = decode_batch_header(bytes.data());
  RecordIterator it(bytes.data(), h);
  RecordView r;
  CHECK_THROWS_AS(it.next(r), Error);
}

TEST_CASE("a producer mark follows the records and readers of records never see it") {
  BatchBuilder b;
  test::fill(b, 0, 2);
  b.set_producer_mark("nightly-import", 41);
  std::string sealed(b.seal(Offset(10), Timestamp(3)));
  std::string again(b.seal(Offset(10), Timestamp(3)));  // sealing twice adds no second mark
  CHECK(sealed == again);
  BatchHeader h = decode_batch_header(sealed.data());
  CHECK(h.attributes == kAttrProducerMark);
  CHECK(h.checksum == batch_checksum(sealed.data(), sealed.size()));
  RecordIterator it(sealed.data(), h);
  RecordView r;
  int n = 0;
  while (it.next(r)) ++n;
  CHECK(n == 2);
  auto mark = batch_producer_mark(sealed.data(), h);
  REQUIRE(mark.has_value());
  CHECK(mark->producer == "nightly-import");
  CHECK(mark->last_seq == 41);

  b.clear();
  test::fill(b, 0, 1);
  std::string plain(b.seal(Offset(0), Timestamp(1)));
  BatchHeader ph = decode_batch_header(plain.data());
  CHECK(ph.attributes == 0);
  CHECK_FALSE(batch_producer_mark(plain.data(), ph).has_value());
}

namespace {
// Rewrites the checks of a batch edited in place, so that only the deeper checks can
// catch the edit (STYLE: rewrite CRCs to reach them).
void reseal(std::string& bytes) {
  BatchHeader h = decode_batch_header(bytes.data());
  h.length = static_cast<uint32_t>(bytes.size());
  h.checksum = batch_checksum(bytes.data(), bytes.size());
  encode_batch_header(h, bytes.data());
  h.header_check = header_checksum(bytes.data());
  encode_batch_header(h, bytes.data());
}
}  // namespace

TEST_CASE("a header whose offsets or timestamps would overflow is refused") {
  BatchHeader h;
  h.length = 100;
  h.record_count = 1;
  h.base_offset = Offset(INT64_MAX);
  CHECK(header_problem(h) == "base offset 9223372036854775807 + last offset delta 0 overflows");
  h.base_offset = Offset(INT64_MAX - 5);
  h.record_count = 5;
  h.last_offset_delta = 5;
  CHECK(header_problem(h) == "base offset 9223372036854775802 + last offset delta 5 overflows");
  h.last_offset_delta = 4;  // the next offset is INT64_MAX: still representable
  CHECK_FALSE(header_problem(h).has_value());
  CHECK(h.next_offset().value == INT64_MAX);
  h.base_offset = Offset(0);
  h.first_timestamp = Timestamp(10);
  h.max_timestamp = Timestamp(9);
  CHECK(header_problem(h) == "first timestamp 10 is after max timestamp 9");
}

TEST_CASE("records whose offset deltas repeat, go back or overflow the time are corrupt") {
  BatchBuilder b;
  test::fill(b, 0, 3);
  std::string good(b.seal(Offset(100), Timestamp(INT64_MAX - 1)));
  // Each record starts 0x96 <delta> 0x00 (timestamp delta): the records of test::fill
  // are "k<i>" / "v<i>": envelope, delta, time, key (3), id, headers, value (2 + 3)
  // = 13 bytes each.
  constexpr size_t kRec = 13;
  REQUIRE(static_cast<uint8_t>(good[kBatchHeaderSize + kRec]) == 0x96);
  REQUIRE(good[kBatchHeaderSize + kRec + 1] == 1);
  auto walk = [](const std::string& bytes) {
    BatchHeader h = decode_batch_header(bytes.data());
    RecordIterator it(bytes.data(), h);
    RecordView r;
    std::string out;
    try {
      while (it.next(r)) out += std::to_string(r.offset.value) + " ";
    } catch (const Error& e) {
      out += e.what();
    }
    return out;
  };
  CHECK(walk(good) == "100 101 102 ");
  std::string bytes = good;
  bytes[kBatchHeaderSize + kRec + 1] = 0;  // record 1 repeats delta 0
  reseal(bytes);
  CHECK(walk(bytes) ==
        "100 batch at offset 100: record 1 has offset delta 0, not above the "
        "previous record's 0");
  bytes = good;
  bytes[kBatchHeaderSize + 2 * kRec + 1] = 0;  // record 2 goes back to delta 0
  reseal(bytes);
  CHECK(walk(bytes) ==
        "100 101 batch at offset 100: record 2 has offset delta 0, not above the "
        "previous record's 1");
  bytes = good;
  bytes[kBatchHeaderSize + 2] = 0x05;  // record 0 is 5 ms after the batch's max timestamp
  reseal(bytes);
  CHECK(walk(bytes) == "batch at offset 100: record 0 has a bad timestamp delta");
}
