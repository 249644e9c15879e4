#!/usr/bin/env bash
# A resumable import (--producer-id, no event ids: nothing deduplicates it) killed,
# or failed with EIO, at each of its pwrite64, write, fdatasync and ftruncate calls
# in turn: 9,000 events into 2 partitions, read in one thread and appended in
# another (pspf/pipelined_producer.h), each batch writing the segment, its indexes
# and the producer's mark. After every run: verify finds nothing wrong, no event is
# in the log twice and every receipt printed names an event that is there; the same
# command run again exits 0 and leaves every event exactly once. The same with EIO at
# each write of either partition's durable end, and, in a one-partition import of
# 40,000 events whose batches are synced a few at a time, at each write of the
# segment's index files: the count the error gives is what the log holds, one
# receipt each.
#
# Before 2026-12-04 an EIO writing a segment's index, after its batch was written,
# failed the append with the batch left in the segment; the producer then appended
# that batch again (salvage), and the log held up to 7,298 events twice.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

base=$T/base
expect_exit 0 pspf-topics -d "$base" create t -P 2
pad=$(printf '%.0s.' $(seq 1 100))
seq 1 9000 | jq -c --arg pad "$pad" '{n: ., k: "k\(. % 97)", pad: $pad}' >in.jsonl
import=(pspf-produce t --key-field k --producer-id imp --receipts -q in.jsonl)
export PSPF_DIR=$T/data

fresh() { rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"; }
check() {  # RC WHAT
  expect_exit 0 pspf-topics verify t
  pspf-replay t | jq -r .n | sort -n >"$T/have"
  expect_eq "" "$(uniq -d "$T/have" | head -3)" "events twice in the log after $2 (exit $1)"
  pspf-replay t -J | jq -c '[.partition, .offset]' | sort >"$T/places"
  jq -c '[.partition, .offset]' "$T/fault.out" | sort >"$T/receipts"
  expect_eq "" "$(comm -13 "$T/places" "$T/receipts" | head -3)" \
    "receipts of events not in the log after $2 (exit $1)"
  expect_exit 0 "${import[@]}"
  pspf-replay t | jq -r .n | sort -n >"$T/have"
  expect_eq 9000 "$(wc -l <"$T/have")" "events after $2 and a re-run"
  expect_eq 9000 "$(uniq <"$T/have" | wc -l)" "distinct events after $2 and a re-run"
}
fault_sweep "pwrite64 write fdatasync ftruncate" fresh check "${import[@]}"
[ "$SWEPT" -ge 20 ] || fail "only $SWEPT points were swept"

# --- the durable end cannot be written -------------------------------------------------
# EIO at each write of one partition's durable end (its lock file), in an import that
# syncs both partitions in one job. Before 2026-12-04 the other partition's point was
# published again on the way out (salvage) and pspf-produce died on an assertion
# (exit 134); without assertions it would have released a lock it did not hold.
fresh
"${import[@]}" >/dev/null || fail "the clean import failed"
marks=0
for p in 0 1; do
  fresh
  strace -f -o "$T/count" -P "$PSPF_DIR/topics/t/$p/lock" -e trace=pwrite64 "${import[@]}" >/dev/null ||
    fail "counting the writes of partition $p's lock"
  calls=$(grep -c "pwrite64(" "$T/count" || true)
  [ "$calls" -ge 1 ] || fail "no write of partition $p's durable end"
  for ((n = 1; n <= calls; n++)); do
    fresh
    rc=0
    strace -f -o /dev/null -P "$PSPF_DIR/topics/t/$p/lock" -e inject=pwrite64:error=EIO:when=$n \
      "${import[@]}" >"$T/fault.out" 2>"$T/fault.err" || rc=$?
    expect_eq 1 "$rc" "exit status with EIO at write #$n of partition $p's durable end ($(tail -1 "$T/fault.err"))"
    check "$rc" "EIO at write #$n of partition $p's durable end"
    marks=$((marks + 1))
  done
done

# --- an index entry cannot be written, batches before it waiting for their sync --------
# One partition, 40,000 events (about 5 MB: several batches, synced a few at a time):
# EIO at each write of the segment's .index and .timeindex. The batches before the
# failed one are synced and reported, the failed one is cut, and a re-run adds the rest.
expect_exit 0 pspf-topics -d "$base" create one -P 1
echo '{"n":0}' | PSPF_DIR=$base pspf-produce -q one  # (the index files exist from here on)
seq 1 40000 | jq -c --arg pad "$pad" '{n: ., pad: $pad}' >big.jsonl
big=(pspf-produce one --producer-id imp --receipts -q big.jsonl)
entries=0
for f in 00000000000000000000.index 00000000000000000000.timeindex; do
  fresh
  strace -f -o "$T/count" -P "$PSPF_DIR/topics/one/0/$f" -e trace=pwrite64 "${big[@]}" >/dev/null ||
    fail "counting the writes of $f"
  calls=$(grep -c "pwrite64(" "$T/count" || true)
  [ "$calls" -ge 2 ] || fail "only $calls writes of $f"
  for ((n = 1; n < calls; n++)); do  # (the last write comes after the last sync)
    fresh
    rc=0
    strace -f -o /dev/null -P "$PSPF_DIR/topics/one/0/$f" -e inject=pwrite64:error=EIO:when=$n \
      "${big[@]}" >"$T/fault.out" 2>"$T/fault.err" || rc=$?
    expect_eq 1 "$rc" "exit status with EIO at write #$n of $f"
    expect_exit 0 pspf-topics verify one
    pspf-replay one | jq -r .n | sort -n >"$T/have"
    expect_eq "" "$(uniq -d "$T/have" | head -3)" "events twice after EIO at write #$n of $f"
    said=$(sed -n 's/.*; \([0-9]*\) events* were appended and durable.*/\1/p' "$T/fault.err")
    expect_eq "$((1 + said))" "$(wc -l <"$T/have")" "events in the log, against the count said ($f #$n)"
    expect_eq "$said" "$(wc -l <"$T/fault.out")" "receipts after EIO at write #$n of $f"
    expect_exit 0 "${big[@]}"
    pspf-replay one | jq -r .n | sort -n | uniq >"$T/have"
    expect_eq 40001 "$(wc -l <"$T/have")" "distinct events after EIO at write #$n of $f and a re-run"
    expect_eq 40001 "$(pspf-replay one | wc -l)" "events after EIO at write #$n of $f and a re-run"
    entries=$((entries + 1))
  done
done
echo "ok: $SWEPT points, $marks failed writes of a durable end, $entries of an index entry"
