#!/usr/bin/env bash
# Kafka's default partitioner with partition counts that are not powers of two:
# pspf-produce --key-field puts each key on toPositive(murmur2(key)) % N for N = 3, 7
# and 12. Every key here hashes negative, so a partitioner that drops the
# `& 0x7fffffff` (or takes the absolute value) puts some of them elsewhere; with 4
# partitions it would not show. The expected partitions are Kafka's formula worked out
# in tests/unit/murmur2_test.cpp ("keys whose murmur2 is negative ...").
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

# key  murmur2  partition with 3, 7, 12 partitions
cat >expected.txt <<'TABLE'
21 -973932308 0 3 0
foobar -790332482 0 0 6
a-little-bit-long-string -985981536 2 1 8
a-little-bit-longer-string -1486304829 2 0 11
1 -1993445489 0 2 3
123 -267702483 2 3 5
1234 -1614185708 0 0 0
12345 -1188365604 2 3 8
kafka -798503068 1 3 4
TABLE

col=3
for n in 3 7 12; do
  awk '{printf "{\"k\":\"%s\",\"n\":%d}\n", $1, NR}' expected.txt >in.jsonl
  expect_exit 0 pspf-produce "t$n" --partitions "$n" --key-field k -q in.jsonl
  pspf-topics describe "t$n" --json | jq -e --argjson n "$n" '.partitions == $n' >/dev/null ||
    fail "t$n does not have $n partitions"
  awk -v c="$col" '{print $1, $c}' expected.txt | sort >want
  pspf-replay "t$n" -J | jq -r '"\(.key) \(.partition)"' | sort >got
  expect_same_file want got "placements with $n partitions"
  # The same key produced again with a keyed --receipts lands on the same partition.
  expect_exit 0 pspf-produce "t$n" --key-field k --receipts in.jsonl
  jq -r '"\(.key) \(.partition)"' "$OUT" | sort >got2
  expect_same_file want got2 "receipts with $n partitions"
  col=$((col + 1))
done
echo ok
