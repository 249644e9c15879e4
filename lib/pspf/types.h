// Strong types for the numbers that identify things in a log, so that an offset can
// never be passed where a partition or a timestamp is expected.
#pragma once

#include <compare>
#include <cstdint>

namespace pspf {

template <typename Tag, typename T>
struct Strong {
  T value{};
  constexpr Strong() = default;
  constexpr explicit Strong(T v) : value(v) {}
  constexpr auto operator<=>(const Strong&) const = default;
};

struct OffsetTag {};
struct PartitionTag {};
struct TimestampTag {};

// Position of a record in its partition: dense at append, never reused.
using Offset = Strong<OffsetTag, int64_t>;
// Partition number, 0 .. partitions-1.
using PartitionId = Strong<PartitionTag, int32_t>;
// Milliseconds since the Unix epoch (append time).
using Timestamp = Strong<TimestampTag, int64_t>;

}  // namespace pspf
