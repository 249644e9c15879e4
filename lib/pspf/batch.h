// Batch: the unit of I/O in a segment (pspf-log(5)). A batch is a fixed 56-byte
// little-endian header followed by MessagePack records; one write and one checksum
// per batch.
//
//   0 u32 magic "PSB1"      16 i64 base_offset      40 u32 record_count
//   4 u32 length (total)    24 i64 first_timestamp  44 u32 last_offset_delta
//   8 u64 XXH3-64 of the    32 i64 max_timestamp    48 u32 attributes
//         records, bytes                             52 u32 header check: low 32 bits
//         56..length                                       of XXH3-64 of bytes 0..52
//
// The header check lets a reader trust the length before it trusts the data: a
// damaged length in the middle of a segment is corruption, never mistaken for a
// torn tail.
// Record: a MessagePack array of 6:
//   [offset_delta uint, timestamp_delta int, key str|nil, id str|nil,
//    headers map(str->str)|nil, value bin]
// The value is a bin holding one MessagePack value, so a reader that wants only keys
// or ids steps over it in constant time.
// Attribute bit 0 (kAttrProducerMark): after the last record comes a producer mark,
// a MessagePack array [producer_id str, last_seq uint]: the highest input sequence
// number of that producer id appended to this partition (pspf-produce --producer-id).
// Readers that want records stop after record_count records and never see it.
// Invariants: offset deltas strictly increase and the last one equals
// last_offset_delta (compaction may remove records, leaving gaps, but keeps
// last_offset_delta, so a batch always says where the next one starts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pspf/buffer.h"
#include "pspf/msgpack.h"
#include "pspf/types.h"

namespace pspf {

inline constexpr uint32_t kBatchMagic = 0x31425350;  // "PSB1" little-endian
inline constexpr size_t kBatchHeaderSize = 56;
inline constexpr size_t kChecksumStart = kBatchHeaderSize;  // the checksum covers the records
// Largest batch accepted by a reader: bigger lengths are damage, not data. No
// writer may produce one (a Producer starts a new batch before a record would
// push its batch past it, and refuses a record that cannot fit even alone).
inline constexpr uint32_t kMaxBatchBytes = 256u << 20;
// The largest value pspf-produce --max-record-bytes allows: 1 MiB below a batch,
// room for the header, the record's envelope, key, id and headers (unless they
// add up to more) and a producer mark, so such a record fits in a batch alone.
inline constexpr size_t kMaxRecordBytes = kMaxBatchBytes - (1u << 20);
inline constexpr uint32_t kAttrProducerMark = 1;

// Where a resumable import got to in a partition (see kAttrProducerMark).
struct ProducerMark {
  std::string producer;
  uint64_t last_seq = 0;
};

struct BatchHeader {
  uint32_t length = 0;
  uint64_t checksum = 0;
  Offset base_offset{0};
  Timestamp first_timestamp{0};
  Timestamp max_timestamp{0};
  uint32_t record_count = 0;
  uint32_t last_offset_delta = 0;
  uint32_t attributes = 0;
  uint32_t header_check = 0;

  Offset next_offset() const { return Offset(base_offset.value + last_offset_delta + 1); }
};

// Reads the header fields at p (kBatchHeaderSize bytes); checks nothing.
BatchHeader decode_batch_header(const char* p);
// Writes h at p (kBatchHeaderSize bytes), magic included.
void encode_batch_header(const BatchHeader& h, char* p);
// Why a header cannot start a batch, or nullopt when it can (length range, record
// count consistent with last_offset_delta, base offset + last_offset_delta + 1
// representable, first_timestamp <= max_timestamp). The magic is the caller's.
std::optional<std::string> header_problem(const BatchHeader& h);
// XXH3-64 of batch bytes [56, length): the records.
uint64_t batch_checksum(const char* batch, size_t length);
// Low 32 bits of XXH3-64 of header bytes [0, 52).
uint32_t header_checksum(const char* batch);

// One record of a batch, as views into the batch bytes (valid while they are).
struct RecordView {
  Offset offset{0};
  Timestamp timestamp{0};
  bool has_key = false;
  std::string_view key;
  bool has_id = false;
  std::string_view id;
  std::string_view headers;  // raw MessagePack map, or empty when there are none
  std::string_view value;    // one MessagePack value (the bin's content)
};

// Walks the records of one checksum-valid batch.
class RecordIterator {
 public:
  // `batch` points at a whole batch (header included); borrowed, must outlive this.
  RecordIterator(const char* batch, const BatchHeader& h);
  // Fills `r` with the next record; returns false at the end. Throws Error(corrupt)
  // when the records do not parse (a checksum-valid batch written by a foreign tool),
  // when an offset delta is not above the previous one or beyond last_offset_delta,
  // or a timestamp lies outside [first_timestamp, max_timestamp].
  // Precondition: header_problem(h) is nullopt (the header was checked).
  bool next(RecordView& r);
  // After next() returned false: the bytes after the last record (a producer mark).
  std::string_view rest() const { return {p_, static_cast<size_t>(end_ - p_)}; }

 private:
  const char* p_;
  const char* end_;
  BatchHeader h_;
  uint32_t seen_ = 0;
  uint64_t prev_delta_ = 0;
};

// Builds a batch in a Buffer before the offsets and time are known: records are added
// with offset deltas 0,1,2...; seal() fills in the header and the checksum once the
// partition lock is held and the base offset and append time are known.
class BatchBuilder {
 public:
  BatchBuilder();
  void clear();
  // Appends a record. `value` is one MessagePack value; `headers` a MessagePack map or
  // empty. key/id absent when null.
  void add(const std::string_view* key, const std::string_view* id, std::string_view headers,
           std::string_view value);
  // The bytes add() appends for a record that would be the index-th of its batch
  // (its MessagePack envelope included).
  static size_t record_bytes(uint32_t index, const std::string_view* key,
                             const std::string_view* id, std::string_view headers,
                             size_t value_size);
  // The bytes a producer mark [producer, last_seq] adds at seal().
  static size_t mark_bytes(std::string_view producer, uint64_t last_seq);
  // Ends the batch with a producer mark (kept until clear()).
  void set_producer_mark(std::string_view producer, uint64_t last_seq);
  const std::optional<ProducerMark>& producer_mark() const { return mark_; }
  uint32_t count() const { return count_; }
  // Records added with an id.
  uint32_t id_count() const { return ids_; }
  // A header for walking the records with RecordIterator before seal() (offsets
  // from 0, time 0).
  BatchHeader records_header() const;
  size_t size() const { return buf_.size(); }
  bool empty() const { return count_ == 0; }
  // The batch bytes so far (header not yet valid before seal()).
  const char* data() const { return buf_.data(); }
  // Sets base offset and timestamps, computes the checksum; returns the batch bytes.
  // May be called again (a failed append retried).
  std::string_view seal(Offset base, Timestamp ts);

 private:
  Buffer buf_;
  uint32_t count_ = 0;
  uint32_t ids_ = 0;
  size_t records_end_ = 0;  // size before the producer mark
  std::optional<ProducerMark> mark_;
};

// The producer mark of a checksum-valid batch, if it has one. Throws Error(corrupt)
// when the attribute says there is one and it does not parse.
std::optional<ProducerMark> batch_producer_mark(const char* batch, const BatchHeader& h);
// Encodes a producer mark (the bytes that follow the last record).
void put_producer_mark(Buffer& b, const ProducerMark& m);

// A batch handed out by a reader (PartitionReader, a BatchSource): `data` points into
// the reader's buffer and is valid until the next call.
struct BatchRef {
  const char* data = nullptr;
  BatchHeader header;
};

}  // namespace pspf
