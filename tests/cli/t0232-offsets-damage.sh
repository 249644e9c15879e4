#!/usr/bin/env bash
# offsets.log follows pspf-log(5) FRAMING AND RECOVERY:
# - zeros after the last record (a preallocated tail) are a torn tail: describe reads
#   the last commit, the next commit cuts them and appends right after it;
# - a record whose length was damaged so that it reaches past the end is corruption
#   when a valid record follows (never a "torn tail" to cut): describe and commit
#   exit 1 naming the byte, and the file is left as it was;
# - a commit whose fdatasync fails exits 1 and is not visible afterwards;
# - what a commit cuts goes to offsets.log.<position>.quarantine, and when that copy
#   cannot be synced nothing is cut;
# - a flipped byte in the last record, which was synced (the group's lock file says
#   how far): damage, not a commit never made: describe, consume and commit exit 1
#   naming it, nothing is delivered again or cut; delete --force and reset recover.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
[ -x "$PSPF_BIN/pspf-offsets" ] || skip "pspf-offsets is not built"

seq 1 100 | awk '{printf "{\"id\":%d}\n", $1}' | pspf-produce t --partitions 1 -q
log=$PSPF_DIR/groups/g/offsets.log
commit() { pspf-offsets commit -g g --topic t -p 0 --offset "$1"; }
described() {
  expect_exit 0 pspf-offsets describe -g g --json
  jq -r '.[0].current_offset' "$OUT"
}
expect_exit 0 commit 10
f=$(stat -c %s "$log")  # every commit here is one record of the same size
expect_exit 0 commit 20
expect_exit 0 commit 30
expect_eq $((3 * f)) "$(stat -c %s "$log")" "three records"
lock=$PSPF_DIR/groups/g/lock # holds how far offsets.log was synced
cp "$log" good.log
cp "$lock" good.lock
# good.log as it was, with the synced length it had (a test going back in time).
restore_good() { cp good.log "$log" && cp good.lock "$lock"; }

# --- 1. a zero-filled tail is torn
head -c 4096 /dev/zero >>"$log"
expect_eq 30 "$(described)" "offset read over a zero tail"
expect_exit 0 commit 40
expect_eq $((4 * f)) "$(stat -c %s "$log")" "zeros cut, one record appended"
expect_eq 40 "$(described)" "offset after the commit over a zero tail"
# What the commit cut is kept, byte for byte (pspf-log(5) QUARANTINE).
head -c 4096 /dev/zero >zeros
expect_same_file zeros "$log.$((3 * f)).quarantine" "the quarantined zero tail"
rm "$log.$((3 * f)).quarantine"

# --- 2. a damaged length in the middle record, reaching past the end
restore_good
put_u32 "$log" $((f + 4)) $((2 * f))
cp "$log" damaged.log
want="$log: bad commit record at byte $f: a valid commit record follows at byte $((2 * f))"
expect_exit 1 pspf-offsets describe -g g
expect_eq "pspf-offsets: error: $want" "$(cat "$ERR")" "describe of a damaged length"
expect_exit 1 commit 50
expect_contains "$ERR" "$want"
expect_same_file damaged.log "$log" "offsets.log after a refused commit"

# --- 3. a commit whose sync fails is not visible afterwards
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e inject=fdatasync:error=EIO:when=1 true 2>/dev/null ||
  skip "this strace cannot inject faults"
restore_good
expect_exit 1 strace -f -o /dev/null -e trace=fdatasync -e inject=fdatasync:error=EIO:when=1 \
  pspf-offsets commit -g g --topic t -p 0 --offset 60
expect_contains "$ERR" "pspf-offsets: error: cannot sync $log: Input/output error"
expect_same_file good.log "$log" "offsets.log after a failed sync"
expect_eq 30 "$(described)" "offset after a failed sync"

# --- 4. a torn tail whose quarantine copy cannot be synced is not cut
printf 'torn bytes' >>"$log"
cp "$log" torn.log
expect_exit 1 strace -f -o /dev/null -e trace=fdatasync -e inject=fdatasync:error=EIO:when=1 \
  pspf-offsets commit -g g --topic t -p 0 --offset 70
expect_contains "$ERR" "pspf-offsets: error: cannot sync $log.$((3 * f)).quarantine: Input/output error"
expect_same_file torn.log "$log" "offsets.log after a failed quarantine"
[ ! -e "$log.$((3 * f)).quarantine" ] || fail "a partial quarantine file was left"
expect_exit 0 commit 70
printf 'torn bytes' >want.q
expect_same_file want.q "$log.$((3 * f)).quarantine" "the quarantined torn tail"
expect_eq 70 "$(described)" "offset after the torn tail was moved away"

# --- 5. a flipped byte in the last record, synced: damage, not a commit never made
restore_good
flip_byte "$log" $((3 * f - 1))
cp "$log" flipped.log
msg="$log: synced commit records are damaged or missing: the valid records end at byte $((2 * f))"
expect_exit 1 pspf-offsets describe -g g
expect_contains "$ERR" "$msg"
expect_contains "$ERR" "pspf-offsets delete -g g --force"
expect_exit 1 pspf-consume -g g t -e
expect_contains "$ERR" "$msg"
expect_empty "$OUT" "events handed out again from the commit before the damaged one"
expect_exit 1 commit 80
expect_contains "$ERR" "$msg"
expect_same_file flipped.log "$log" "offsets.log after a refused commit"
# The way out the message names: drop the group's offsets, then set them.
expect_exit 0 pspf-offsets delete -g g --force
expect_exit 0 pspf-offsets reset -g g --topic t --to-offset 95 --execute
expect_eq 95 "$(described)" "offset set after the damage"
expect_exit 0 pspf-consume -g g t -e
expect_eq "96 97 98 99 100" "$(jq -r .id "$OUT" | paste -sd' ')" "events after the reset"
echo ok
