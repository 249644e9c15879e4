#!/usr/bin/env bash
# pspf-compact killed, or failed with EIO, at each of its calls that change files
# (pwrite64, write, fdatasync, fsync, ftruncate, renameat, unlinkat) in turn, on a
# compacted topic of several segments with tombstones and keyless events. After
# every run: verify finds nothing wrong, every key keeps its version and its latest
# value; the next pspf-compact leaves no swap file and the very log a compaction
# that never failed leaves (the same records at the same offsets), with the same
# versions. Then pspf-compact --into, killed or failed at each pwrite64, fsync,
# renameat and mkdirat (the writes of its copy, the syncs of its directories, the
# rename that makes it a topic): the copy's directory holds the whole copy (always,
# when it exits 0), or no topic, and then a second run makes the whole copy.
# Last, the first part's sweep (pwrite64, fdatasync, fsync and renameat) on a
# compaction that rewrites removed-keys as one totals record, past 1 MiB.
#
# Before 2026-12-04 an EIO after the removed-keys record was written (syncing the
# directory of a new removed-keys file, publishing its synced length, a rename or
# an unlink of the swap itself) made pspf-compact remove its swap files: the
# committed record then counted removed events that stayed in the log, and every
# key's version was too high for good.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

base=$T/base
export PSPF_DIR=$base
expect_exit 0 pspf-topics create t -P 1 --segment-bytes 1024 --cleanup compact \
  --delete-retention 0s --min-compaction-lag 0ms
# 15 appends of 20 events over 7 keys: 5 segments of 3 appends each. Every third append ends k5 with a
# tombstone; every fifth holds a keyless event.
for ((i = 0; i < 15; i++)); do
  for ((j = 1; j <= 20; j++)); do
    if ((j == 20 && i % 3 == 0)); then printf '{"key":"k5","value":null}\n'
    elif ((j == 10 && i % 5 == 0)); then printf '{"value":{"i":%d,"j":%d}}\n' "$i" "$j"
    else printf '{"key":"k%d","value":{"i":%d,"j":%d}}\n' $((j % 7)) "$i" "$j"; fi
  done | pspf-produce -q t -J || fail "append $i failed"
done
[ "$(find "$base/topics/t/0" -name '*.log' | wc -l)" -ge 4 ] || fail "too few segments"

keys=(k0 k1 k2 k3 k4 k5 k6)
versions() {
  local k
  for k in "${keys[@]}"; do pspf-replay t --key "$k" --current-version; done | tr '\n' ' '
}
latest() { pspf-replay t --latest | sort; }
swap_files() { find "$PSPF_DIR/topics/t" -name '*.cleaned' | wc -l | tr -d ' '; }
want_versions=$(versions)
want_latest=$(latest)

# The reference: a compaction that never failed.
export PSPF_DIR=$T/ref
cp -a "$base" "$PSPF_DIR"
expect_exit 0 pspf-compact t
pspf-replay t -J >"$T/ref.log"
expect_eq "$want_versions" "$(versions)" "versions after a clean compaction"
[ "$(wc -l <"$T/ref.log")" -lt 100 ] || fail "the clean compaction removed too little"

export PSPF_DIR=$T/data
check() {  # RC WHAT
  shift
  expect_exit 0 pspf-topics verify t
  expect_eq "$want_versions" "$(versions)" "versions after $1"
  expect_eq "$want_latest" "$(latest)" "latest values after $1"
  expect_exit 0 pspf-compact t
  expect_eq 0 "$(swap_files)" "swap files after $1 and a second compaction"
  pspf-replay t -J >"$T/now.log"
  expect_same_file "$T/ref.log" "$T/now.log" "the log after $1 and a second compaction"
  expect_eq "$want_versions" "$(versions)" "versions after $1 and a second compaction"
}

fresh() { rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"; }
fault_sweep "pwrite64 write fdatasync fsync ftruncate renameat unlinkat" fresh check pspf-compact t
points=$SWEPT
[ "$points" -ge 40 ] || fail "only $points points were swept"

# --- pspf-compact --into: a copy appears whole or not at all ---------------------------
# Before 2026-12-04 the copy's topic was created first and its partitions filled after:
# a copy killed or failed half-way read as a topic, with keys missing, and verified
# clean; a second run refused it ("already exists").
export PSPF_DIR=$base
expect_exit 0 pspf-compact t --into "$T/ref-copy"
pspf-replay -d "$T/ref-copy" t -J >"$T/ref-copy.log"
[ "$(wc -l <"$T/ref-copy.log")" -ge 7 ] || fail "the clean copy holds too little"
copy=$T/copy
check_copy() {  # RC WHAT (a topic there must be whole, whatever the exit status: a run
  # killed or failed while syncing topics/ after the rename has made its copy)
  if [ ! -e "$copy/topics/t" ]; then
    [ "$1" -ne 0 ] || fail "a copy that exited 0 left no topic ($2)"
    expect_exit 0 pspf-compact t --into "$copy"
  fi
  expect_exit 0 pspf-topics -d "$copy" verify t
  pspf-replay -d "$copy" t -J >"$T/copy.log"
  expect_same_file "$T/ref-copy.log" "$T/copy.log" "the copy after $2"
  expect_exit 0 pspf-topics verify t
}
no_copy() { rm -rf "$copy"; }
fault_sweep "pwrite64 fsync renameat mkdirat" no_copy check_copy pspf-compact t --into "$copy"
copies=$SWEPT
[ "$copies" -ge 20 ] || fail "only $copies copies were swept"

# --- the rewrite of removed-keys ----------------------------------------------------
# A compaction whose removed-keys file outgrows 1 MiB rewrites it as one totals record
# once every change is applied (segment_swap.cpp): the synced length lowered and
# synced, the new file written, synced and renamed over the old one, its length
# published. No part above reaches it: it takes a megabyte of removed keys. The same
# sweep and checks as the first part, on a topic of 10,000 keys of 120 bytes with 4
# events each: a first compaction (before the sweep) counts about 6,000 removed
# events (750 KB); the one swept counts more than 10,000 more, and rewrites the file.
base=$T/rewrite-base
export PSPF_DIR=$base
expect_exit 0 pspf-topics create t -P 1 --segment-bytes 700000 --cleanup compact \
  --delete-retention 0s --min-compaction-lag 0ms
pad=$(printf '%0110d' 0)
for v in 1 2 3 4; do  # (files, not pipes: then the batches and segments are the same each run)
  seq -w 1 10000 | awk -v pad="$pad" -v v="$v" \
    '{printf "{\"key\":\"k-%s-%s\",\"value\":{\"v\":%d}}\n", pad, $1, v}' >"$T/events.$v"
done
expect_exit 0 pspf-produce -q t -J "$T/events.1" "$T/events.2"
expect_exit 0 pspf-compact t
expect_exit 0 pspf-produce -q t -J "$T/events.3" "$T/events.4"
before=$(stat -c %s "$base/topics/t/0/removed-keys")
[ "$before" -ge 600000 ] || fail "the first compaction counted only $before bytes of removed keys"
keys=("k-$pad-00001" "k-$pad-00002" "k-$pad-05000" "k-$pad-09999" "k-$pad-10000")
want_versions=$(versions)
expect_eq "3 3 3 3 3 " "$want_versions" "versions before the compaction"
want_latest=$(latest)
# The reference, which did rewrite the file: its totals name each key once (at most
# 140 bytes each), where the records of both compactions would name every key at
# least twice.
export PSPF_DIR=$T/rewrite-ref
cp -a "$base" "$PSPF_DIR"
expect_exit 0 pspf-compact t
after=$(stat -c %s "$PSPF_DIR/topics/t/0/removed-keys")
[ "$after" -le 1400000 ] ||
  fail "the clean compaction did not rewrite removed-keys ($before bytes, then $after)"
pspf-replay t -J >"$T/ref.log"
expect_eq "$want_versions" "$(versions)" "versions after a clean compaction"
export PSPF_DIR=$T/data
fault_sweep "pwrite64 fdatasync fsync renameat" fresh check pspf-compact t
rewrites=$SWEPT
[ "$rewrites" -ge 30 ] || fail "only $rewrites points of the rewrite were swept"
echo "ok: $points points, $copies copies, $rewrites points of the rewrite"
