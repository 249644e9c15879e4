#!/usr/bin/env bash
# Keyless events with ids are routed by a hash of the id (murmur2, as a key would
# be), so a re-run of the same import meets every earlier copy and appends nothing,
# whichever process runs it and whether or not --producer-id is given. For 3 and 7
# partitions: 60 keyless events with ids imported once, then three more times (each
# run is a new process, so a per-process sticky partition would differ); every
# receipt of the re-runs says duplicate_of, the topic keeps 60 events, and each
# event is in the partition its id would select as a key.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

seq 1 60 | awk '{printf "{\"id\":\"order-%d\",\"n\":%d}\n", $1, $1}' >in.jsonl

for n in 3 7; do
  topic=keyless$n
  expect_exit 0 pspf-topics create "$topic" -P "$n"
  expect_exit 0 pspf-produce "$topic" --id-field id --receipts in.jsonl
  expect_eq 60 "$(grep -c '"offset"' "$OUT" || true)" "$n partitions: events appended by the first run"
  for rerun in plain plain producer; do
    args=()
    [ "$rerun" = producer ] && args=(--producer-id nightly)
    expect_exit 0 pspf-produce "$topic" --id-field id --receipts "${args[@]}" in.jsonl
    expect_lines 60 "$OUT" "$n partitions, $rerun re-run: receipts"
    expect_eq 60 "$(grep -c '"duplicate_of":' "$OUT" || true)" "$n partitions, $rerun re-run: receipts with duplicate_of"
    expect_contains "$ERR" "appended 0 events to topic $topic" "$n partitions, $rerun re-run: summary"
    expect_contains "$ERR" "left out 60 duplicates" "$n partitions, $rerun re-run: summary"
  done
  pspf-replay "$topic" | jq -r .n | sort -n >ns
  expect_same_file <(seq 1 60) ns "$n partitions: every event exactly once"

  # Each id went where the same string goes as a key (Kafka's murmur2 partitioner).
  jq -c '{k: .id}' in.jsonl | expect_exit 0 pspf-produce "keyed$n" --key-field k --partitions "$n"
  pspf-replay "keyed$n" -J | jq -r '"\(.key) \(.partition)"' | sort >want
  pspf-replay "$topic" -J | jq -r '"\(.id) \(.partition)"' | sort >got
  expect_same_file want got "$n partitions: the partition of each id"
  [ "$(cut -d' ' -f2 got | sort -u | wc -l)" -gt 1 ] || fail "$n partitions: the ids did not spread"
done
echo ok
