#!/usr/bin/env bash
# A failed sync of a dead writer's records is never followed by a publication of
# them (durable_end.h, invariants 2 and 3). Records past the durable end that a
# writer killed before its fdatasync left are settled (synced, then published) by
# the next writer or group member that takes the partition lock. When that sync
# fails, the pages may be gone while a second fdatasync, on a new descriptor,
# reports success: so the failing command cuts the records back to the durable end
# before it lets the lock go, exactly as a writer does after its own failed sync.
#  1. pspf-consume -e (a reader's settle) with EIO at its settling fdatasync: exits 1
#     naming the failure; the records past the durable end are gone, in every
#     segment they reached, with the indexes cut to match (verify is clean); a
#     following member hands out only the acknowledged events; a re-run of the
#     import appends every event again, none answered as a duplicate.
#  2. The same with pspf-produce (a writer's settle). It then appends what it had
#     queued, as after any failure: its receipts are for records appended afresh,
#     none answered as a duplicate of a cut one; a re-run appends the rest.
#  3. The durable end damaged (it reads as "nothing known"): a failed settle cannot
#     tell acknowledged records from the dead writer's, so it cuts nothing.
#  4. Killed at each of its calls while it settles or cuts: the next member finishes
#     the cut.
#  5. pspf-topics verify notes such an unfinished cut (exit 0: nothing acknowledged
#     is touched); a writer finishes it before it appends.
#  6. So does pspf-topics repair.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e inject=fdatasync:error=EIO:when=1 true 2>/dev/null ||
  skip "this strace cannot inject faults"

seq 1 3000 | jq -c '{id: ("e\(.)"), n: .}' >in.jsonl
split -l 300 in.jsonl part.
lock=$PSPF_DIR/topics/t/0/lock
# import_in_parts: in.jsonl in ten runs, each a batch of its own.
import_in_parts() {
  local f
  for f in part.*; do pspf-produce -q t --id-field id --sync none "$f" || return 1; done
}

# dead_writer: a 1-partition topic of small segments holding one acknowledged
# event, and after it the 3000 events of an import whose writer died before its sync
# (their durable end was never published).
dead_writer() {
  rm -rf "$PSPF_DIR"
  expect_exit 0 pspf-topics create t -P 1 --segment-bytes 20000
  echo '{"id":"seed"}' | pspf-produce -q t --id-field id || fail "seed"
  unpublished t 0 import_in_parts
  expect_eq 1 "$(i64_at "$lock" 8)" "durable end left by the dead writer"
  expect_eq 3001 "$(pspf-replay t | wc -l)" "records in the log before the settle"
  segments=$(find "$PSPF_DIR/topics/t/0" -name '*.log' | wc -l)
  [ "$segments" -ge 3 ] || fail "the dead writer's records span only $segments segment(s)"
}

# only_the_seed WHAT: the dead writer's records were cut, cleanly.
only_the_seed() {
  expect_eq 1 "$(i64_at "$lock" 8)" "durable end after $1"
  pspf-replay t >replayed || fail "replay after $1"
  expect_lines 1 replayed "records in the log after $1"
  expect_eq '{"id":"seed"}' "$(cat replayed)" "the log holds only the acknowledged event after $1"
  expect_eq 1 "$(find "$PSPF_DIR/topics/t/0" -name '*.log' | wc -l)" "segments after $1"
  expect_exit 0 pspf-topics verify t
  expect_exit 0 pspf-consume -g g t -e
  expect_eq '{"id":"seed"}' "$(cat "$OUT")" "a member after $1 hands out the acknowledged event only"
  expect_exit 0 pspf-produce t --key-field id --id-field id --receipts in.jsonl
  expect_eq 3000 "$(jq -r 'select(.offset != null) | .key' "$OUT" | sort -u | wc -l)" \
    "events appended again after $1"
  expect_eq 0 "$(jq -r 'select(.duplicate_of != null) | .key' "$OUT" | wc -l)" \
    "events answered as duplicates after $1"
  expect_eq 3001 "$(pspf-replay t | wc -l)" "every event once after $1"
}

# --- 1. A reader's settle.
dead_writer
rc=0
strace -f -o /dev/null -e inject=fdatasync:error=EIO:when=1 pspf-consume -g g t -e >c.out 2>c.err || rc=$?
expect_eq 1 "$rc" "pspf-consume with EIO at its settling sync"
expect_contains c.err "Input/output error" "the failure is named"
expect_contains c.err "never acknowledged, were cut" "the cut is said"
expect_empty c.out "nothing handed out"
only_the_seed "a member's failed settle"

# --- 2. A writer's settle. After the failure pspf-produce still appends what it had
# queued (as after any error), now after the cut: every receipt it prints is for a
# record appended afresh and synced, none is answered from the cut records.
dead_writer
rc=0
strace -f -o /dev/null -e inject=fdatasync:error=EIO:when=1 \
  pspf-produce t --key-field id --id-field id --receipts in.jsonl >p.out 2>p.err || rc=$?
expect_eq 1 "$rc" "pspf-produce with EIO at its settling sync"
expect_contains p.err "Input/output error" "the failure is named"
expect_contains p.err "never acknowledged, were cut" "the cut is said"
expect_eq 0 "$(jq -r 'select(.duplicate_of != null) | .key' p.out | wc -l)" \
  "receipts answered from the dead writer's records"
jq -r 'select(.offset != null) | .key' p.out | sort >receipted
pspf-replay t | jq -r .id | grep -v '^seed$' | sort >inlog || true
expect_same_file receipted inlog "the log after the failed settle holds the receipted events"
expect_exit 0 pspf-produce t --key-field id --id-field id --receipts in.jsonl
jq -r 'select(.duplicate_of != null) | .key' "$OUT" | sort >dups
expect_same_file receipted dups "the re-run's duplicates are the receipted events"
expect_eq 3001 "$(pspf-replay t | wc -l)" "every event once after the re-run"
expect_exit 0 pspf-topics verify t

# --- 3. No durable end to cut back to: nothing is cut.
dead_writer
write_bytes "$lock" 8 ff
rc=0
strace -f -o /dev/null -e inject=fdatasync:error=EIO:when=1 pspf-consume -g g t -e >c.out 2>c.err || rc=$?
expect_eq 1 "$rc" "pspf-consume with EIO at its settling sync, the durable end damaged"
expect_eq 3001 "$(pspf-replay t | wc -l)" "records kept when the durable end is unknown"
# --- 4. Killed while it settles or cuts: the cut is noted in the lock file before
# the sync, so the next holder of the lock makes it instead of syncing and
# publishing what is left. pspf-consume with EIO at its settling sync is killed at
# each of the file-changing calls of its run in turn. After a kill that came after
# the note, a member hands out only the acknowledged event; after one that came
# before it, the dead writer's records are settled and handed out. Either way the
# partition verifies clean. Every call from the failed sync on is a kill point
# (the cut); before it, up to 3 points per system call (PSPF_FULL=1: all).
dead_writer
base=$T/base
cp -a "$PSPF_DIR" "$base"
points=0
for sc in pwrite64 unlink unlinkat openat ftruncate fsync; do
  rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
  strace -f --seccomp-bpf -o "$T/count" -e trace=fdatasync,"$sc" -e inject=fdatasync:error=EIO:when=1 \
    pspf-consume -g g t -e >/dev/null 2>&1 || true
  calls=$(grep -c "^[0-9]* *$sc(" "$T/count" || true)
  [ "$calls" -gt 0 ] || continue
  # the calls before the failed sync
  before=$(awk -v sc="$sc(" '/INJECTED/ { exit } index($0, sc) { n++ } END { print n + 0 }' "$T/count")
  points_of() {
    local n step=1
    [ -z "${PSPF_FULL:-}" ] && [ "$before" -gt 3 ] && step=$(((before + 2) / 3))
    for ((n = 1; n <= before; n += step)); do echo "$n"; done
    seq $((before + 1)) "$calls"
  }
  for n in $(points_of); do
    rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
    strace -f --seccomp-bpf -o "$T/kill.trace" -e trace=fdatasync,pwrite64,"$sc" \
      -e inject=fdatasync:error=EIO:when=1 -e inject="$sc":signal=KILL:when="$n" \
      pspf-consume -g g t -e >/dev/null 2>&1 || true
    points=$((points + 1))
    # The cut is noted (24 bytes at byte 48 of the lock file) before the sync.
    want=3001
    grep -q 'pwrite64(.*"PDUR.*, 24, 48) = 24' "$T/kill.trace" && want=1
    expect_exit 0 pspf-consume -g g2 t -e
    expect_lines "$want" "$OUT" "handed out after a kill at $sc #$n"
    expect_exit 0 pspf-topics verify t
  done
done
[ "$points" -ge 20 ] || fail "only $points kill points were swept"

# --- 5. A writer finishes a noted cut: a member killed half-way through its cut
# (later segments removed, the first not yet truncated), then an import.
rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
rc=0
strace -f -o /dev/null -e inject=fdatasync:error=EIO:when=1 -e inject=ftruncate:signal=KILL:when=1 \
  pspf-consume -g g t -e >/dev/null 2>&1 || rc=$?
expect_eq 137 "$rc" "the member killed in its cut"
[ "$(pspf-replay t | wc -l)" -gt 1 ] || fail "the kill left no half-cut partition to test with"
cp -a "$PSPF_DIR" "$T/halfcut"
expect_exit 0 pspf-topics verify t
expect_contains "$OUT" "from offset 1 on are being cut" "verify names the unfinished cut"
expect_exit 0 pspf-topics verify t --json
expect_eq 1 "$(jq '.[0].cut_pending' "$OUT")" "verify --json: cut_pending"
expect_exit 0 pspf-produce t --key-field id --id-field id --receipts in.jsonl
expect_eq 0 "$(jq -r 'select(.duplicate_of != null) | .key' "$OUT" | wc -l)" \
  "events answered as duplicates of records a noted cut removes"
expect_eq 3001 "$(pspf-replay t | wc -l)" "every event once after the writer finished the cut"
expect_eq 3001 "$(i64_at "$lock" 8)" "durable end after the import"
expect_exit 0 pspf-topics verify t
expect_not_contains "$OUT" "being cut" "verify after the writer finished the cut"

# --- 6. pspf-topics repair finishes such a cut too.
rm -rf "$PSPF_DIR" && cp -a "$T/halfcut" "$PSPF_DIR"
expect_exit 0 pspf-topics repair t
expect_contains "$OUT" "finishing the cut of the records from offset 1 on" "repair says it"
only_the_seed "a repair that finished the cut"
echo "ok: $points kill points"
