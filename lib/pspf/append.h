// What an append asks for (how durable, on what condition) and what it did: the
// words shared by a producer, its backends and the partition writer.
#pragma once

#include <cstdint>
#include <vector>

#include "pspf/types.h"

namespace pspf {

// When an append is durable: when the kernel writes it back (none), after the sync
// of its batch (batch), or after the sync of its own append (always).
enum class SyncMode { none, batch, always };

struct Appended {
  Offset base{0};
  Timestamp timestamp{0};
  uint32_t count = 0;
};

// The condition of an append with an expected version (pspf-produce
// --expect-version): the key's version is its number of events minus one.
struct ExpectVersion {
  enum class Kind { any, no_stream, exists, exact };
  Kind kind = Kind::any;
  int64_t version = 0;  // for exact
  bool matches(int64_t current) const;

  static ExpectVersion any() { return {}; }
  static ExpectVersion no_stream() { return {Kind::no_stream, 0}; }
  static ExpectVersion exists() { return {Kind::exists, 0}; }
  // Version -1 is no_stream.
  static ExpectVersion exact(int64_t v) {
    return v == -1 ? no_stream() : ExpectVersion{Kind::exact, v};
  }
};

// What an append did, record by record.
struct AppendResult {
  Appended appended;  // count 0: nothing was written
  // Per record of the batch: the offset of the record with the same id already in
  // the partition, or Offset(-1) when it was appended. Empty when none was a
  // duplicate.
  std::vector<Offset> duplicate_of;
  // With an expected version: the key's version before the append, and whether it
  // did not match (then nothing was written).
  int64_t version_before = -1;
  bool conflict = false;
};

}  // namespace pspf
