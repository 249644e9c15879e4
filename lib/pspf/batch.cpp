#include "pspf/batch.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cassert>
#include <cstring>

#include "pspf/error.h"
#include "pspf/le.h"
#include "pspf/json_codec.h"

namespace pspf {
namespace {

bool get_uint(const char** p, const char* end, uint64_t& out) {
  if (*p >= end) return false;
  auto c = static_cast<uint8_t>(**p);
  if (c <= 0x7f) {
    out = c;
    *p += 1;
    return true;
  }
  auto need = [&](size_t n) { return static_cast<size_t>(end - *p) >= n + 1; };
  const char* q = *p + 1;
  switch (c) {
    case 0xcc: if (!need(1)) return false; out = static_cast<uint8_t>(*q); *p += 2; return true;
    case 0xcd: if (!need(2)) return false; out = __builtin_bswap16(le::load<uint16_t>(q)); *p += 3; return true;
    case 0xce: if (!need(4)) return false; out = __builtin_bswap32(le::load<uint32_t>(q)); *p += 5; return true;
    case 0xcf: if (!need(8)) return false; out = __builtin_bswap64(le::load<uint64_t>(q)); *p += 9; return true;
    default: return false;
  }
}

bool get_int(const char** p, const char* end, int64_t& out) {
  if (*p >= end) return false;
  auto c = static_cast<uint8_t>(**p);
  if (c >= 0xe0) {
    out = static_cast<int8_t>(c);
    *p += 1;
    return true;
  }
  auto need = [&](size_t n) { return static_cast<size_t>(end - *p) >= n + 1; };
  const char* q = *p + 1;
  switch (c) {
    case 0xd0: if (!need(1)) return false; out = static_cast<int8_t>(*q); *p += 2; return true;
    case 0xd1: if (!need(2)) return false; out = static_cast<int16_t>(__builtin_bswap16(le::load<uint16_t>(q))); *p += 3; return true;
    case 0xd2: if (!need(4)) return false; out = static_cast<int32_t>(__builtin_bswap32(le::load<uint32_t>(q))); *p += 5; return true;
    case 0xd3: if (!need(8)) return false; out = static_cast<int64_t>(__builtin_bswap64(le::load<uint64_t>(q))); *p += 9; return true;
    default: {
      uint64_t u;
      if (!get_uint(p, end, u) || u > uint64_t(INT64_MAX)) return false;
      out = static_cast<int64_t>(u);
      return true;
    }
  }
}

bool is_nil(const char* p, const char* end) { return p < end && static_cast<uint8_t>(*p) == 0xc0; }

// The sizes msgpack_put_uint, msgpack_put_str and msgpack_put_bin_header write.
size_t uint_bytes(uint64_t v) { return v < 128 ? 1 : v < 65536 ? 3 : v <= 0xffffffffu ? 5 : 9; }
size_t str_bytes(size_t n) { return (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5) + n; }
size_t bin_header_bytes(size_t n) { return n < 256 ? 2 : n < 65536 ? 3 : 5; }

}  // namespace

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
  return XXH3_64bits(batch + kChecksumStart, length - kChecksumStart);
}

RecordIterator::RecordIterator(const char* batch, const BatchHeader& h)
    : p_(batch + kBatchHeaderSize), end_(batch + h.length), h_(h) {}

bool RecordIterator::next(RecordView& r) {
  if (seen_ == h_.record_count) return false;
  auto fail = [&](const char* what) -> bool {
    throw Error(Errc::corrupt, fmt::format("batch at offset {}: record {} has a bad {}",
                                           h_.base_offset.value, seen_, what));
  };
  if (p_ >= end_ || static_cast<uint8_t>(*p_) != 0x96) return fail("envelope");
  ++p_;
  uint64_t delta;
  int64_t ts_delta;
  if (!get_uint(&p_, end_, delta) || delta > h_.last_offset_delta) return fail("offset delta");
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
  if (!get_int(&p_, end_, ts_delta) || ts_delta < 0 || static_cast<uint64_t>(ts_delta) > span)
    return fail("timestamp delta");
  // No overflow: header_problem() bounds base + last_offset_delta, and delta is below it.
  r.offset = Offset(h_.base_offset.value + static_cast<int64_t>(delta));
  r.timestamp = Timestamp(h_.first_timestamp.value + ts_delta);
  r.has_key = !is_nil(p_, end_);
  if (!r.has_key) ++p_;
  else if (!msgpack_get_str(&p_, end_, r.key)) return fail("key");
  r.has_id = !is_nil(p_, end_);
  if (!r.has_id) ++p_;
  else if (!msgpack_get_str(&p_, end_, r.id)) return fail("id");
  const char* start = p_;
  if (is_nil(p_, end_)) {
    ++p_;
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
  if (p >= end || static_cast<uint8_t>(*p) != 0x92 || !msgpack_get_str(&++p, end, id) ||
      !get_uint(&p, end, m.last_seq) || p != end)
    throw Error(Errc::corrupt, fmt::format("batch at offset {}: bad producer mark", h.base_offset.value));
  m.producer = std::string(id);
  return m;
}

void put_producer_mark(Buffer& b, const ProducerMark& m) {
  b.push_back(static_cast<char>(0x92));
  msgpack_put_str(b, m.producer);
  msgpack_put_uint(b, m.last_seq);
}

void msgpack_put_str(Buffer& b, std::string_view s) {
  size_t n = s.size();
  char* p = b.ensure(n + 5);
  size_t h;
  if (n < 32) {
    p[0] = static_cast<char>(0xa0 | n);
    h = 1;
  } else if (n < 256) {
    p[0] = static_cast<char>(0xd9);
    p[1] = static_cast<char>(n);
    h = 2;
  } else if (n < 65536) {
    p[0] = static_cast<char>(0xda);
    le::store<uint16_t>(p + 1, __builtin_bswap16(static_cast<uint16_t>(n)));
    h = 3;
  } else {
    p[0] = static_cast<char>(0xdb);
    le::store<uint32_t>(p + 1, __builtin_bswap32(static_cast<uint32_t>(n)));
    h = 5;
  }
  std::memcpy(p + h, s.data(), n);
  b.commit(h + n);
}

void msgpack_put_uint(Buffer& b, uint64_t v) {
  char* p = b.ensure(9);
  if (v < 128) {
    p[0] = static_cast<char>(v);
    b.commit(1);
  } else if (v < 65536) {
    p[0] = static_cast<char>(0xcd);
    le::store<uint16_t>(p + 1, __builtin_bswap16(static_cast<uint16_t>(v)));
    b.commit(3);
  } else if (v <= 0xffffffffu) {
    p[0] = static_cast<char>(0xce);
    le::store<uint32_t>(p + 1, __builtin_bswap32(static_cast<uint32_t>(v)));
    b.commit(5);
  } else {
    p[0] = static_cast<char>(0xcf);
    le::store<uint64_t>(p + 1, __builtin_bswap64(v));
    b.commit(9);
  }
}

void msgpack_put_map_header(Buffer& b, uint32_t n) {
  char* p = b.ensure(5);
  if (n < 16) {
    p[0] = static_cast<char>(0x80 | n);
    b.commit(1);
  } else if (n < 65536) {
    p[0] = static_cast<char>(0xde);
    le::store<uint16_t>(p + 1, __builtin_bswap16(static_cast<uint16_t>(n)));
    b.commit(3);
  } else {
    p[0] = static_cast<char>(0xdf);
    le::store<uint32_t>(p + 1, __builtin_bswap32(n));
    b.commit(5);
  }
}

void msgpack_put_bin_header(Buffer& b, size_t n) {
  char* p = b.ensure(5);
  if (n < 256) {
    p[0] = static_cast<char>(0xc4);
    p[1] = static_cast<char>(n);
    b.commit(2);
  } else if (n < 65536) {
    p[0] = static_cast<char>(0xc5);
    le::store<uint16_t>(p + 1, __builtin_bswap16(static_cast<uint16_t>(n)));
    b.commit(3);
  } else {
    p[0] = static_cast<char>(0xc6);
    le::store<uint32_t>(p + 1, __builtin_bswap32(static_cast<uint32_t>(n)));
    b.commit(5);
  }
}

bool msgpack_get_bin(const char** p, const char* end, std::string_view& out) {
  if (*p >= end) return false;
  auto c = static_cast<uint8_t>(**p);
  if (c != 0xc4 && c != 0xc5 && c != 0xc6) return false;
  return msgpack_get_str(p, end, out);
}

bool msgpack_get_str(const char** p, const char* end, std::string_view& out) {
  if (*p >= end) return false;
  auto c = static_cast<uint8_t>(**p);
  size_t n, h;
  size_t avail = static_cast<size_t>(end - *p);
  if ((c & 0xe0) == 0xa0) {
    n = c & 0x1f;
    h = 1;
  } else if (c == 0xd9 || c == 0xc4) {
    if (avail < 2) return false;
    n = static_cast<uint8_t>((*p)[1]);
    h = 2;
  } else if (c == 0xda || c == 0xc5) {
    if (avail < 3) return false;
    n = __builtin_bswap16(le::load<uint16_t>(*p + 1));
    h = 3;
  } else if (c == 0xdb || c == 0xc6) {
    if (avail < 5) return false;
    n = __builtin_bswap32(le::load<uint32_t>(*p + 1));
    h = 5;
  } else {
    return false;
  }
  if (avail - h < n) return false;
  out = {*p + h, n};
  *p += h + n;
  return true;
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
  return 1 + uint_bytes(index) + 1 + (key ? str_bytes(key->size()) : 1) +
         (id ? str_bytes(id->size()) : 1) + (headers.empty() ? 1 : headers.size()) +
         bin_header_bytes(value_size) + value_size;
}

size_t BatchBuilder::mark_bytes(std::string_view producer, uint64_t last_seq) {
  return 1 + str_bytes(producer.size()) + uint_bytes(last_seq);  // see put_producer_mark
}

void BatchBuilder::add(const std::string_view* key, const std::string_view* id,
                       std::string_view headers, std::string_view value) {
  assert(records_end_ == 0);  // nothing is added after seal()
  [[maybe_unused]] size_t before = buf_.size();
  buf_.push_back(static_cast<char>(0x96));
  msgpack_put_uint(buf_, count_);
  buf_.push_back(0);  // timestamp delta: every record of a batch shares its append time
  if (key) msgpack_put_str(buf_, *key);
  else buf_.push_back(static_cast<char>(0xc0));
  if (id) {
    msgpack_put_str(buf_, *id);
    ++ids_;
  } else {
    buf_.push_back(static_cast<char>(0xc0));
  }
  if (headers.empty()) buf_.push_back(static_cast<char>(0xc0));
  else buf_.append(headers);
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
