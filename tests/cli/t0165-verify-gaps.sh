#!/usr/bin/env bash
# Damage that only a full `pspf-topics verify` finds, each checked against its own
# invariant, with verify's exact line and exit status:
# - a middle segment emptied or lost: offsets are dense at append, only the last
#   segment may be empty, and only compaction leaves holes (removed-keys says so);
# - a checksum-valid batch whose value does not decode (replay and consume fail on
#   it, after whole lines of the events before it, which consume commits): verify
#   names segment, byte and offset, and repair has something to cut;
# - checksum-valid batches whose offsets repeat, or overflow;
# - after a compaction removed a deleted key's events, the key keeps its version;
#   removed-keys damaged: verify reports it, and a key-version rebuild refuses to
#   answer (exit 1) rather than accept a stale --expect-version;
# - topic.json: a changed field fails its checksum (exit 1, naming the file); a
#   partition directory missing, or hidden by a lowered count, is reported.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
RESEAL="$PSPF_BIN/../tests/pspf-reseal"
[ -x "$RESEAL" ] || skip "$RESEAL (a test helper) is not built"

# events N: the lines {"n":0}..{"n":N-1}.
events() { seq 0 $(($1 - 1)) | sed 's/.*/{"n":&}/'; }
# size_sum FILE...: total size in bytes.
size_sum() {
  local f total=0
  for f in "$@"; do total=$((total + $(stat -c %s "$f"))); done
  echo "$total"
}
# base_of SEGMENT: the base offset in a segment's name.
base_of() {
  local b
  b=$(basename "$1" .log)
  echo $((10#$b))
}

# --- A middle segment emptied, then lost.
expect_exit 0 pspf-topics create gaps -P 1 --segment-bytes 1024
events 60 >gaps.in
expect_exit 0 pspf-produce gaps --sync always -q gaps.in
mapfile -t segs < <(ls "$PSPF_DIR/topics/gaps/0/"*.log)
[ "${#segs[@]}" -ge 3 ] || fail "expected 3 segments or more, got ${#segs[@]}"
expect_exit 0 pspf-topics verify gaps
expect_eq "topic gaps partition 0: ok, 60 records" "$(cat "$OUT")" "verify of an intact topic"
cp "${segs[1]}" middle.saved
: >"${segs[1]}"
after=$(size_sum "${segs[@]:2}")
expect_exit 1 pspf-topics verify gaps
expect_eq "topic gaps partition 0: DAMAGED: segment ${segs[1]}: empty, but it is not the last segment (its records are lost) ($after bytes from there on; pspf-topics repair gaps cuts them off)" \
  "$(cat "$OUT")" "verify of an emptied middle segment"
expect_exit 1 pspf-topics verify gaps --json
expect_eq '[{"status":"damaged","position":0,"records":'"$(base_of "${segs[1]}")"'}]' \
  "$(jq -c '[.[] | {status,position,records}]' "$OUT")" "verify --json of an emptied middle segment"
rm "${segs[1]}" "${segs[1]%.log}.index" "${segs[1]%.log}.timeindex"
from=$(base_of "${segs[1]}")
to=$(($(base_of "${segs[2]}") - 1))
expect_exit 1 pspf-topics verify gaps
expect_eq "topic gaps partition 0: DAMAGED: segment ${segs[2]}: offsets $from..$to are missing before it: the segment before ends at offset $from and no compaction removed them (a segment lost?) ($after bytes from there on; pspf-topics repair gaps cuts them off)" \
  "$(cat "$OUT")" "verify of a lost middle segment"
cp middle.saved "${segs[1]}"
expect_exit 0 pspf-topics verify gaps

# --- A checksum-valid batch whose value does not decode.
expect_exit 0 pspf-topics create vals -P 1
events 3 >vals.in
expect_exit 0 pspf-produce vals --sync always -q vals.in
seg=$(segment_path vals 0)
mapfile -t pos < <(batch_positions "$seg")
second=${pos[1]}
len=$(u32_at "$seg" $((second + 4)))
# The batch ends with the value {"n":1}: 81 a1 6e 01. 0xc1 is never a MessagePack value.
write_bytes "$seg" $((second + len - 4)) c1
"$RESEAL" "$seg" "$second"
size=$(stat -c %s "$seg")
expect_exit 1 pspf-replay vals
expect_contains "$ERR" "record at offset 1 has a bad value"
expect_eq '{"n":0}' "$(cat "$OUT")" "replay prints the events before the bad value"
# An envelope is written field by field: none of the bad record's line may show.
expect_exit 1 pspf-replay -J vals
expect_eq "pspf-replay: error: topic vals partition 0: record at offset 1 has a bad value" \
  "$(cat "$ERR")" "replay -J names the topic and partition of a bad value"
expect_eq 0 "$(jq -c .offset "$OUT")" "replay -J prints whole lines only, up to the bad value"
# A member stops at the bad value (exit 1) with the event before it printed and
# committed: after a repair it goes on from there instead of printing it again.
expect_exit 1 pspf-consume vals -g g -e
expect_eq '{"n":0}' "$(cat "$OUT")" "consume prints the events before the bad value"
expect_eq "pspf-consume: error: topic vals partition 0: record at offset 1 has a bad value" \
  "$(cat "$ERR")" "consume names the bad value"
expect_exit 0 pspf-offsets describe -g g --json
expect_eq 1 "$(jq '.[0].current_offset' "$OUT")" "consume commits what it printed before the bad value"
expect_exit 1 pspf-topics verify vals
expect_eq "topic vals partition 0: DAMAGED: segment $seg: bad batch at byte $second: record at offset 1 has a bad value ($((size - second)) bytes from there on; pspf-topics repair vals cuts them off)" \
  "$(cat "$OUT")" "verify of a value that does not decode"
expect_exit 0 pspf-topics repair vals --dry-run
expect_contains "$OUT" "bad batch at byte $second: record at offset 1 has a bad value"
expect_not_contains "$OUT" "nothing to repair"
expect_exit 0 pspf-topics repair vals
expect_exit 0 pspf-topics verify vals
expect_eq "topic vals partition 0: ok, 1 records" "$(cat "$OUT")" "verify after the repair"

# --- Checksum-valid batches with offsets that repeat, or overflow.
expect_exit 0 pspf-topics create dup -P 1
expect_exit 0 pspf-produce dup --sync always -q vals.in
seg=$(segment_path dup 0)
mapfile -t pos < <(batch_positions "$seg")
# Batch 0 again after batch 1: whole, checksums right, offsets going back.
{ head -c "${pos[2]}" "$seg"; head -c "${pos[1]}" "$seg"; tail -c +$((pos[2] + 1)) "$seg"; } >dup.log
cp dup.log "$seg"
size=$(stat -c %s "$seg")
expect_exit 1 pspf-topics verify dup
expect_eq "topic dup partition 0: DAMAGED: segment $seg: bad batch at byte ${pos[2]}: base offset 0 is below 2 ($((size - pos[2])) bytes from there on; pspf-topics repair dup cuts them off)" \
  "$(cat "$OUT")" "verify of repeated offsets"
# After the repair, the last batch's base offset at the top of int64: its next
# offset would overflow.
expect_exit 0 pspf-topics repair dup
put_i64 "$seg" $((pos[1] + 16)) 9223372036854775807
"$RESEAL" "$seg" "${pos[1]}"
size=$(stat -c %s "$seg")
expect_exit 1 pspf-topics verify dup
expect_eq "topic dup partition 0: DAMAGED: segment $seg: bad batch at byte ${pos[1]}: base offset 9223372036854775807 + last offset delta 0 overflows ($((size - pos[1])) bytes from there on; pspf-topics repair dup cuts them off)" \
  "$(cat "$OUT")" "verify of an overflowing base offset"

# --- Key versions after compaction, and removed-keys damage.
expect_exit 0 pspf-topics create keyed -P 1 --cleanup compact --delete-retention 0s
events 4 | expect_exit 0 pspf-produce keyed -k gone -q
echo null | expect_exit 0 pspf-produce keyed -k gone -q
echo '{"n":9}' | expect_exit 0 pspf-produce keyed -k kept -q
expect_exit 0 pspf-replay keyed --key gone --current-version
expect_eq "4" "$(cat "$OUT")" "version of the deleted key"
wait_clock_past $(($(now_ms) + 2))  # the tombstone is past its 0 s retention
expect_exit 0 pspf-compact keyed --roll
expect_exit 0 pspf-replay keyed --key gone
expect_empty "$OUT" "events of the deleted key after compaction"
expect_exit 0 pspf-replay keyed --key gone --current-version
expect_eq "4" "$(cat "$OUT")" "version of the deleted key after compaction"
echo '{"n":5}' | expect_exit 3 pspf-produce keyed -k gone --expect-version no_stream
expect_exit 0 pspf-topics verify keyed
expect_eq "topic keyed partition 0: ok, 1 records" "$(cat "$OUT")" "verify after compaction"
rk="$PSPF_DIR/topics/keyed/0/removed-keys"
cp "$rk" rk.saved
rk_size=$(stat -c %s "$rk")
flip_byte "$rk" $((rk_size - 1))  # the last frame, synced: damage, not a torn write
expect_exit 1 pspf-topics verify keyed
expect_eq "topic keyed partition 0: DAMAGED: $rk: synced records are damaged or missing: the valid records end at byte 0 (bad frame at byte 0: checksum mismatch in a complete last frame), but they were synced up to byte $rk_size: key versions rebuilt from it would go backwards (the file may be removed only if key versions need not be exact) (pspf-topics repair cannot mend this)" \
  "$(cat "$OUT")" "verify of a damaged removed-keys"
expect_exit 1 pspf-topics repair keyed
expect_contains "$OUT" "cutting the log cannot mend this"
rm "$PSPF_DIR/topics/keyed/0/keys.hix"
expect_exit 1 pspf-replay keyed --key gone --current-version
expect_contains "$ERR" "pspf-replay: error: topic keyed partition 0: cannot work out key versions: $rk: synced records are damaged or missing"
before=$(tree_digest "$PSPF_DIR/topics/keyed/0")
echo '{"n":5}' | expect_exit 1 pspf-produce keyed -k gone --expect-version no_stream
expect_contains "$ERR" "topic keyed partition 0: cannot work out key versions: $rk: synced records are damaged"
expect_eq "$before" "$(tree_digest "$PSPF_DIR/topics/keyed/0")" "partition after a refused produce"
cp rk.saved "$rk"
expect_exit 0 pspf-replay keyed --key gone --current-version
expect_eq "4" "$(cat "$OUT")" "version with removed-keys restored"

# --- The last synced frame of removed-keys damaged, then a compaction that would append
# to it: it refuses, naming the file, and leaves the partition as it found it (before,
# it cut the frame off as a torn write, exit 0, and the counts were lost for good).
# Each byte of the frame is tried: header, checksum, payload.
printf '{"n":%s}\n' 1 2 | expect_exit 0 pspf-produce keyed -k other -q
echo null | expect_exit 0 pspf-produce keyed -k other -q
wait_clock_past $(($(now_ms) + 2))
part="$PSPF_DIR/topics/keyed/0"
size=$(stat -c %s "$rk")
for pos in 0 4 8 15 16 $((size - 1)); do
  cp rk.saved "$rk"
  flip_byte "$rk" "$pos"
  before=$(tree_digest "$part")
  expect_exit 1 pspf-compact keyed --roll
  if [ "$pos" = 0 ]; then  # no frame magic: corrupt wherever it is
    expect_contains "$ERR" "pspf-compact: error: $rk: bad frame at byte 0: no frame magic"
  else  # the length, the checksum, the payload: a frame lost short of the synced length
    expect_contains "$ERR" "pspf-compact: error: $rk: synced records are damaged or missing: the valid records end at byte 0"
    expect_contains "$ERR" "but they were synced up to byte $size"
  fi
  expect_eq "$before" "$(tree_digest "$part")" "partition after a refused compaction (byte $pos)"
  expect_exit 1 pspf-topics verify keyed
  expect_contains "$OUT" "DAMAGED: $rk: "
done
# Cut short (a frame lost, not flipped): the same refusal.
cp rk.saved "$rk"
truncate -s $((size - 1)) "$rk"
expect_exit 1 pspf-compact keyed --roll
expect_contains "$ERR" "but they were synced up to byte $size"
# Restored, the compaction goes ahead and every key keeps its version.
cp rk.saved "$rk"
expect_exit 0 pspf-compact keyed --roll
expect_exit 0 pspf-topics verify keyed
expect_exit 0 pspf-replay keyed --key gone --current-version
expect_eq "4" "$(cat "$OUT")" "version of gone after the second compaction"
expect_exit 0 pspf-replay keyed --key other --current-version
expect_eq "2" "$(cat "$OUT")" "version of other after its tombstone was compacted away"
[ -z "$(find "$part" -name '*quarantine*')" ] || fail "a quarantine file was left in $part"

# --- removed-keys damaged where no offset is missing from the log (compaction emptied
# and removed the first segment): verify reads it all the same, and agrees with the
# key versions, which refuse (before, verify said ok).
expect_exit 0 pspf-topics create first -P 1 --cleanup compact --delete-retention 0s
events 4 | expect_exit 0 pspf-produce first -k gone -q
echo null | expect_exit 0 pspf-produce first -k gone -q
wait_clock_past $(($(now_ms) + 2))
expect_exit 0 pspf-compact first --roll
echo '{"n":9}' | expect_exit 0 pspf-produce first -k kept -q
part="$PSPF_DIR/topics/first/0"
[ ! -e "$part/00000000000000000000.log" ] || fail "the emptied first segment is still there"
expect_exit 0 pspf-topics verify first
expect_eq "topic first partition 0: ok, 1 records" "$(cat "$OUT")" "verify of an intact partition"
rk="$part/removed-keys"
flip_byte "$rk" $(($(stat -c %s "$rk") - 1))
expect_exit 1 pspf-topics verify first
expect_contains "$OUT" "topic first partition 0: DAMAGED: $rk: synced records are damaged or missing"
rm -f "$part/keys.hix"
expect_exit 1 pspf-replay first --key gone --current-version
expect_contains "$ERR" "$rk: synced records are damaged or missing"

# --- topic.json: checksum, and partition directories.
expect_exit 0 pspf-topics create parts -P 2
echo '{"n":1}' | expect_exit 0 pspf-produce parts -p 1 -q
meta="$PSPF_DIR/topics/parts/topic.json"
jq -e '.checksum | test("^[0-9a-f]{16}$")' "$meta" >/dev/null || fail "topic.json has no checksum"
sed -i 's/"partitions": 2/"partitions": 1/' "$meta"
expect_exit 1 pspf-topics verify parts
expect_eq "pspf-topics: error: $meta: checksum mismatch (the file was changed outside pspf-topics; its fields cannot be trusted)" \
  "$(cat "$ERR")" "verify of an edited topic.json"
echo '{"n":2}' | expect_exit 1 pspf-produce parts --id-field n
expect_contains "$ERR" "$meta: checksum mismatch"
# A topic.json from before checksums, edited: verify finds the hidden partition.
jq 'del(.checksum)' "$meta" >meta.old && cp meta.old "$meta"
expect_exit 1 pspf-topics verify parts
expect_eq "topic parts partition 0: ok, 0 records
topic parts partition 1: DAMAGED: $PSPF_DIR/topics/parts/1 is not a partition of the topic (topic.json says 1 partition)" \
  "$(cat "$OUT")" "verify of a hidden partition"
expect_exit 1 pspf-topics verify parts --json
expect_eq '[{"partition":0,"status":"ok"},{"partition":1,"status":"damaged"}]' \
  "$(jq -c '[.[] | {partition,status}]' "$OUT")" "verify --json of a hidden partition"
jq '.partitions = 2' "$meta" >meta.old && cp meta.old "$meta"
expect_exit 0 pspf-topics verify parts
rm -r "$PSPF_DIR/topics/parts/1"
expect_exit 1 pspf-topics verify parts
expect_eq "topic parts partition 0: ok, 0 records
topic parts partition 1: DAMAGED: partition directory $PSPF_DIR/topics/parts/1 is missing" \
  "$(cat "$OUT")" "verify of a missing partition directory"
