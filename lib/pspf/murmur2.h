// Kafka's default partitioner: murmur2 of the key bytes (seed 0x9747b28c), made
// positive by masking the sign bit, modulo the partition count. A key lands on the
// same partition number here as in Kafka's Java client.
#pragma once

#include <cstdint>
#include <string_view>

#include "pspf/types.h"

namespace pspf {

// Kafka's Utils.murmur2: the 32-bit MurmurHash2 variant Kafka uses, as a signed int.
int32_t murmur2(std::string_view data);

// (murmur2(key) & 0x7fffffff) % partitions. Precondition: partitions > 0.
PartitionId partition_for_key(std::string_view key, int32_t partitions);

}  // namespace pspf
