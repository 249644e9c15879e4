#include "pspf/batch.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cassert>
#include <cstring>

#include "pspf/error.h"
#include "pspf/le.h"
#include "pspf/msgpack.h"
#include "pspf/xxh3.h"

namespace pspf {

BatchHeader decode_batch_header(const char* p) {
  BatchHeader h;
  h.length = le::load<uint32_t>(p + 4);
  h.checksum = le::load<uint64_t>(p + 8);
  h.base_offset = Offset(le::load<int64_t>(p + 16));
  h.first_timestamp = Timestamp(le::load<int64_t>(p + 24));
  h.max_timestamp = Timestamp(le::load<int64_t>(p + 32));
  h.record_count = le::load<uint32_t>(p + 40);
  h.last_offset_delta = le::load<uint32_t>(p + 44);
  h.attributes = le::load<uint32_t>(p + 48);
  h.header_check = le::load<uint32_t>(p + 52);
  return h;
}

void encode_batch_header(const BatchHeader& h, char* p) {
  le::store<uint32_t>(p, kBatchMagic);
  le::store<uint32_t>(p + 4, h.length);
  le::store<uint64_t>(p + 8, h.checksum);
  le::store<int64_t>(p + 16, h.base_offset.value);
  le::store<int64_t>(p + 24, h.first_timestamp.value);
  le::store<int64_t>(p + 32, h.max_timestamp.value);
  le::store<uint32_t>(p + 40, h.record_count);
  le::store<uint32_t>(p + 44, h.last_offset_delta);
  le::store<uint32_t>(p + 48, h.attributes);
  le::store<uint32_t>(p + 52, h.header_check);
}

std::optional<std::string> header_problem(const BatchHeader& h) {
  if (h.length < kBatchHeaderSize + 1 || h.length > kMaxBatchBytes)
    return fmt::format("batch length {} out of range", h.length);
  if (h.record_count == 0 || h.last_offset_delta < h.record_count - 1)
    return fmt::format("record count {} inconsistent with last offset delta {}", h.record_count,
                       h.last_offset_delta);
  if (h.base_offset.value < 0) return fmt::format("negative base offset {}", h.base_offset.value);
  // next_offset() and every record's offset must be representable.
  if (h.base_offset.value > INT64_MAX - 1 - int64_t{h.last_offset_delta})
    return fmt::format("base offset {} + last offset delta {} overflows", h.base_offset.value,
                       h.last_offset_delta);
  if (h.first_timestamp > h.max_timestamp)
    return fmt::format("first timestamp {} is after max timestamp {}", h.first_timestamp.value,
                       h.max_timestamp.value);
  return std::nullopt;
}

uint32_t header_checksum(const char* batch) {
  return static_cast<uint32_t>(XXH3_64bits(batch, 52));
}

uint64_t batch_checksum(const char* batch, size_t length) {
  assert(length >= kChecksumStart);
  return xxh3_64(batch + kChecksumStart, length - kChecksumStart);
}

RecordIterator::RecordIterator(const char* batch, const BatchHeader& h)
    : p_(batch + kBatchHeaderSize), end_(batch + h.length), h_(h) {}

bool RecordIterator::next(RecordView& r) {
  if (seen_ == h_.record_count) return false;
  auto fail = [&](const char* what) -> bool {
    throw Error(Errc::corrupt, fmt::format("batch at offset {}: record {} has a bad {}",
                                           h_.base_offset.value, seen_, what));
  };
  uint32_t fields;
  if (!msgpack_get_array_header(&p_, end_, fields) || fields != 6) return fail("envelope");
  uint64_t delta;
  int64_t ts_delta;
  if (!msgpack_get_uint(&p_, end_, delta) || delta > h_.last_offset_delta)
    return fail("offset delta");
  // Offsets strictly increase inside a batch (compaction leaves gaps, never repeats).
  if (seen_ > 0 && delta <= prev_delta_)
    throw Error(Errc::corrupt, fmt::format("batch at offset {}: record {} has offset delta {}, not "
                                           "above the previous record's {}",
                                           h_.base_offset.value, seen_, delta, prev_delta_));
  prev_delta_ = delta;
  // A record's time lies inside its batch's [first_timestamp, max_timestamp]; checked
  // without computing first + delta first, which could overflow.
  uint64_t span = static_cast<uint64_t>(h_.max_timestamp.value) -
                  static_cast<uint64_t>(h_.first_timestamp.value);  // first <= max
  if (!msgpack_get_int(&p_, end_, ts_delta) || ts_delta < 0 ||
      static_cast<uint64_t>(ts_delta) > span)
    return fail("timestamp delta");
  // No overflow: header_problem() bounds base + last_offset_delta, and delta is below it.
  r.offset = Offset(h_.base_offset.value + static_cast<int64_t>(delta));
  r.timestamp = Timestamp(h_.first_timestamp.value + ts_delta);
  r.has_key = !msgpack_get_nil(&p_, end_);
  if (r.has_key && !msgpack_get_str(&p_, end_, r.key)) return fail("key");
  r.has_id = !msgpack_get_nil(&p_, end_);
  if (r.has_id && !msgpack_get_str(&p_, end_, r.id)) return fail("id");
  const char* start = p_;
  if (msgpack_get_nil(&p_, end_)) {
    r.headers = {};
  } else {
    if (!msgpack_skip(&p_, end_)) return fail("headers");
    r.headers = {start, static_cast<size_t>(p_ - start)};
  }
  if (!msgpack_get_bin(&p_, end_, r.value)) return fail("value");
  ++seen_;
  return true;
}

std::optional<ProducerMark> batch_producer_mark(const char* batch, const BatchHeader& h) {
  if (!(h.attributes & kAttrProducerMark)) return std::nullopt;
  RecordIterator it(batch, h);
  RecordView r;
  while (it.next(r)) {
  }
  std::string_view rest = it.rest();
  const char* p = rest.data();
  const char* end = p + rest.size();
  ProducerMark m;
  std::string_view id;
  uint32_t fields;
  if (!msgpack_get_array_header(&p, end, fields) || fields != 2 || !msgpack_get_str(&p, end, id) ||
      !msgpack_get_uint(&p, end, m.last_seq) || p != end)
    throw Error(Errc::corrupt,
                fmt::format("batch at offset {}: bad producer mark", h.base_offset.value));
  m.producer = std::string(id);
  return m;
}

void put_producer_mark(Buffer& b, const ProducerMark& m) {
  msgpack_put_array_header(b, 2);
  msgpack_put_str(b, m.producer);
  msgpack_put_batch_uint(b, m.last_seq);
}

BatchBuilder::BatchBuilder() : buf_(64 << 10) { clear(); }

void BatchBuilder::clear() {
  buf_.clear();
  buf_.resize(kBatchHeaderSize);
  count_ = 0;
  ids_ = 0;
  records_end_ = 0;
  mark_.reset();
}

void BatchBuilder::set_producer_mark(std::string_view producer, uint64_t last_seq) {
  mark_ = ProducerMark{std::string(producer), last_seq};
}

size_t BatchBuilder::record_bytes(uint32_t index, const std::string_view* key,
                                  const std::string_view* id, std::string_view headers,
                                  size_t value_size) {
  // Mirrors add(): envelope, offset delta, timestamp delta, key, id, headers, value.
  return 1 + msgpack_batch_uint_size(index) + 1 + (key ? msgpack_str_size(key->size()) : 1) +
         (id ? msgpack_str_size(id->size()) : 1) + (headers.empty() ? 1 : headers.size()) +
         msgpack_bin_header_size(value_size) + value_size;
}

size_t BatchBuilder::mark_bytes(std::string_view producer, uint64_t last_seq) {
  return 1 + msgpack_str_size(producer.size()) +
         msgpack_batch_uint_size(last_seq);  // see put_producer_mark
}

void BatchBuilder::add(const std::string_view* key, const std::string_view* id,
                       std::string_view headers, std::string_view value) {
  assert(records_end_ == 0);  // nothing is added after seal()
  [[maybe_unused]] size_t before = buf_.size();
  msgpack_put_array_header(buf_, 6);
  msgpack_put_batch_uint(buf_, count_);
  msgpack_put_int(buf_, 0);  // timestamp delta: every record of a batch shares its append time
  if (key)
    msgpack_put_str(buf_, *key);
  else
    msgpack_put_nil(buf_);
  if (id) {
    msgpack_put_str(buf_, *id);
    ++ids_;
  } else {
    msgpack_put_nil(buf_);
  }
  if (headers.empty())
    msgpack_put_nil(buf_);
  else
    buf_.append(headers);
  msgpack_put_bin_header(buf_, value.size());
  buf_.append(value);
  assert(buf_.size() - before == record_bytes(count_, key, id, headers, value.size()));
  ++count_;
}

BatchHeader BatchBuilder::records_header() const {
  BatchHeader h;
  h.length = static_cast<uint32_t>(records_end_ ? records_end_ : buf_.size());
  h.record_count = count_;
  h.last_offset_delta = count_ ? count_ - 1 : 0;
  return h;
}

std::string_view BatchBuilder::seal(Offset base, Timestamp ts) {
  assert(count_ > 0);
  if (records_end_ == 0) records_end_ = buf_.size();
  buf_.resize(records_end_);
  if (mark_) put_producer_mark(buf_, *mark_);
  BatchHeader h;
  h.attributes = mark_ ? kAttrProducerMark : 0;
  h.length = static_cast<uint32_t>(buf_.size());
  h.base_offset = base;
  h.first_timestamp = ts;
  h.max_timestamp = ts;
  h.record_count = count_;
  h.last_offset_delta = count_ - 1;
  encode_batch_header(h, buf_.data());
  uint64_t sum = batch_checksum(buf_.data(), buf_.size());
  le::store<uint64_t>(buf_.data() + 8, sum);
  le::store<uint32_t>(buf_.data() + 52, header_checksum(buf_.data()));
  return buf_.view();
}

}  // namespace pspf
