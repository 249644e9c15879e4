// Envelope: the JSON form of a whole record, as pspf-replay -J prints it and
// pspf-produce -J reads it back:
//   {"topic":"t","partition":0,"offset":5,"timestamp":1764000000000,
//    "key":"k"|null,"id":"e1"|null,"headers":{"name":"value",...},"value":<any JSON>}
// Keys, ids and header values are strings. Reading, only key, id, headers and value
// matter (where a record goes is decided by the log, and when too, except on a log
// that keeps the producer's time: see EnvelopeFields::timestamp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pspf/batch.h"
#include "pspf/buffer.h"
#include "pspf/types.h"

namespace pspf {

struct EnvelopeFields {
  bool has_key = false;
  std::string_view key;
  bool has_id = false;
  std::string_view id;
  std::string_view headers;  // MessagePack map of str -> str, or empty
  std::string_view value;    // MessagePack value
  // "timestamp" when it is a whole number of milliseconds: kept where the log keeps
  // the producer's time (Producer::timestamp_next), ignored by the local log.
  std::optional<Timestamp> timestamp;
};

// Reads an envelope from the MessagePack form of a JSON object (views point into
// `msgpack`). Returns the reason when it is not a valid envelope ("value" missing,
// "key" not a string, a header value not a string...), nullopt when it is.
std::optional<std::string> parse_envelope(std::string_view msgpack, EnvelopeFields& out);

// Appends the envelope JSON of a record (no newline). Throws Error(corrupt) naming the
// topic, partition and offset for malformed headers or value, after writing part of it.
void write_envelope(std::string_view topic, PartitionId p, const RecordView& r, Buffer& out);

// Appends a record as one output line: its value, or with `envelope` the whole
// envelope, then '\n'. Throws Error(corrupt) naming the topic, partition and offset
// for a malformed value (or headers), with `out` as it was before the call.
void write_record_line(std::string_view topic, PartitionId p, const RecordView& r, bool envelope,
                       Buffer& out);

// Checks that a MessagePack map has only string keys and string values.
bool is_string_map(std::string_view msgpack);

// Why a reader cannot print record `r` ("a bad value": not one well-formed value
// that fills its bin, as msgpack_to_json reads it; "bad headers": not a map of
// strings), or nullopt when it can. `scratch` is working space (cleared).
std::optional<std::string> record_problem(const RecordView& r, Buffer& scratch);

}  // namespace pspf
