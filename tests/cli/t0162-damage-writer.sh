#!/usr/bin/env bash
# Damage is never written past, and recovery never destroys (pspf-log(5) WRITING A
# PARTITION and QUARANTINE, pspf(7) DAMAGE):
# - a flipped byte in a middle batch of the active segment, behind the last index entry:
#   pspf-produce -p exits 1, appends nothing (the segment is byte for byte the same)
#   and names the segment and the byte;
# - a flipped bit in the records of the last, complete, acknowledged batch: verify
#   exits 1 (damaged), readers fail unless their range ends before it, the writer
#   refuses it (exit 1, segment, byte and the way out), repair moves it to a
#   quarantine file that holds exactly the cut bytes, and the next append takes its
#   offset;
# - a torn tail (an append that was not acknowledged, cut short): the next writer
#   moves it to a quarantine file and says where;
# - a flipped bit in a last batch that was not acknowledged: verify exits 4
#   (suspect), and the next writer quarantines it.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

pad=$(printf '%01000d' 0)
# make_topic NAME EVENTS: a 1-partition topic holding events {"n":0,"pad":...} ..., one
# batch of about 1 KB each, so that the offset index has an entry every few batches.
make_topic() {
  expect_exit 0 pspf-topics create "$1" -P 1
  for ((i = 0; i < $2; i++)); do printf '{"n":%d,"pad":"%s"}\n' "$i" "$pad"; done >"$T/$1.in"
  expect_exit 0 pspf-produce "$1" --sync always -q "$T/$1.in"
}
# quarantined TOPIC: the quarantine files of partition 0, one a line.
quarantined() {
  find "$PSPF_DIR/topics/$1/0" -name '*.quarantine' | sort
}

# --- a flipped byte in a middle batch, before the last index entry -------------------
make_topic mid 40
seg=$(segment_path mid 0)
idx=$(segment_path mid 0 0 .index)
mapfile -t pos < <(batch_positions "$seg")
expect_eq 40 "${#pos[@]}" "batches in the segment"
last_entry=$(u32_at "$idx" $(($(stat -c %s "$idx") - 4)))
[ "$last_entry" -gt "${pos[6]}" ] || fail "the last index entry ($last_entry) is not past batch 6"
flip_byte "$seg" $((pos[5] + 300))
cp "$seg" "$T/mid.before"
expect_exit 1 pspf-produce -p 0 mid --receipts <<<'{"n":"late"}'
expect_empty "$OUT" "receipts of a refused append"
expect_contains "$ERR" "pspf-produce: error: topic mid partition 0 segment $seg: bad batch at byte ${pos[5]}: checksum mismatch"
expect_same_file "$T/mid.before" "$seg" "the segment after a refused append"
expect_eq "" "$(quarantined mid)" "quarantine files after a refused append"
# A second writer process refuses it too (nothing was cut or rewritten by the first).
expect_exit 1 pspf-produce mid <<<'{"n":"late"}'
expect_same_file "$T/mid.before" "$seg" "the segment after a second refused append"

# --- a flipped bit in the records of the last, complete batch -----------------------
make_topic last 10
seg=$(segment_path last 0)
mapfile -t pos < <(batch_positions "$seg")
lastpos=${pos[9]}
size=$(stat -c %s "$seg")
flip_byte "$seg" $((lastpos + 200))
cp "$seg" "$T/last.before"
# Its events were acknowledged (the durable end is past it): damage, not a lost write.
expect_exit 1 pspf-topics verify last
expect_eq "topic last partition 0: DAMAGED: segment $seg: bad batch at byte $lastpos: checksum mismatch in a complete last batch: offsets 9 to 9 were acknowledged (the durable end is 10) ($((size - lastpos)) bytes from there on; pspf-topics repair last cuts them off)" \
  "$(cat "$OUT")" "verify of a damaged last batch"
expect_exit 1 pspf-topics verify last --json
expect_eq "[{\"status\":\"damaged\",\"segment\":\"$seg\",\"position\":$lastpos,\"records\":9}]" \
  "$(jq -c '[.[] | {status,segment,position,records}]' "$OUT")" "verify --json of a damaged last batch"
# Readers fail rather than end before it, unless their range stops there.
expect_exit 1 pspf-replay last
expect_contains "$ERR" "topic last partition 0: acknowledged events are damaged or missing"
expect_exit 0 pspf-replay last --until 9
expect_eq "$(seq 0 8 | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" "replay before a damaged batch"
expect_exit 1 pspf-produce -p 0 last <<<'{"n":"late"}'
expect_contains "$ERR" "pspf-produce: error: topic last partition 0 segment $seg: bad batch at byte $lastpos: checksum mismatch in a complete last batch"
expect_contains "$ERR" "pspf-topics repair"
expect_same_file "$T/last.before" "$seg" "the segment after a refused append"
expect_eq "" "$(quarantined last)" "quarantine files after a refused append"
# repair --dry-run changes nothing; repair moves the batch to a quarantine file.
expect_exit 0 pspf-topics repair last --dry-run
expect_same_file "$T/last.before" "$seg" "the segment after repair --dry-run"
expect_eq "" "$(quarantined last)" "quarantine files after repair --dry-run"
expect_exit 0 pspf-topics repair last
q="$seg.$lastpos.quarantine"
expect_contains "$OUT" "topic last partition 0: offsets 9 to 9 are lost: the durable end goes back from 10 to 9"
expect_contains "$OUT" "topic last partition 0: quarantined in $q"
expect_eq "$q" "$(quarantined last)" "the quarantine file"
tail -c +$((lastpos + 1)) "$T/last.before" >"$T/last.cut"
expect_same_file "$T/last.cut" "$q" "the quarantined bytes"
expect_eq "$lastpos" "$(stat -c %s "$seg")" "size of the repaired segment"
expect_exit 0 pspf-topics verify last
expect_exit 0 pspf-produce last --receipts <<<'{"n":"next"}'
expect_eq 9 "$(jq .offset "$OUT")" "offset of the append after repair"

# --- a torn tail: the next writer moves it to a quarantine file ----------------------
make_topic torn 9
unpublished torn 0 pspf-produce torn -q <<<"{\"n\":9,\"pad\":\"$pad\"}"
seg=$(segment_path torn 0)
mapfile -t pos < <(batch_positions "$seg")
truncate -s $((pos[9] + 100)) "$seg"
cp "$seg" "$T/torn.before"
expect_exit 0 pspf-topics verify torn
expect_exit 0 pspf-produce torn --receipts <<<'{"n":"next"}'
expect_eq 9 "$(jq .offset "$OUT")" "offset of the append after a torn tail"
q="$seg.${pos[9]}.quarantine"
expect_contains "$ERR" "cut off a torn tail of 100 bytes left by an earlier writer (moved to $q)"
expect_eq "$q" "$(quarantined torn)" "the quarantine file"
tail -c +$((pos[9] + 1)) "$T/torn.before" >"$T/torn.cut"
expect_same_file "$T/torn.cut" "$q" "the quarantined torn tail"

# --- repair of the middle damage, and the events after it recovered --------------------
# as pspf-log(5) QUARANTINE says: the batches after the damaged one become a scratch
# topic's segment, and their envelopes are appended again.
seg=$(segment_path mid 0)
mapfile -t pos < <(batch_positions "$T/mid.before")
expect_exit 0 pspf-topics repair mid
expect_contains "$OUT" "topic mid partition 0: segment $seg: bad batch at byte ${pos[5]}: checksum mismatch: cutting $(($(stat -c %s "$T/mid.before") - pos[5])) bytes from byte ${pos[5]} of $seg on (offsets from 5 on) into quarantine files"
q="$seg.${pos[5]}.quarantine"
expect_contains "$OUT" "topic mid partition 0: quarantined in $q"
expect_eq "$q" "$(quarantined mid)" "the quarantine file of the middle damage"
tail -c +$((pos[5] + 1)) "$T/mid.before" >"$T/mid.cut"
expect_same_file "$T/mid.cut" "$q" "the quarantined damaged region"
expect_eq "${pos[5]}" "$(stat -c %s "$seg")" "size of the repaired segment"
expect_exit 0 pspf-topics create scratch -P 1
len=$(od -An -t u4 -j 4 -N 4 "$q" | tr -d ' ')
tail -c +$((len + 1)) "$q" >"$PSPF_DIR/topics/scratch/0/00000000000000000000.log"
expect_exit 0 pspf-replay scratch -J
expect_eq "$(seq 6 39 | paste -sd' ')" "$(jq -r .value.n "$OUT" | paste -sd' ')" "events in the quarantine file"
cp "$OUT" "$T/mid.env"
expect_exit 0 pspf-produce mid -J -q "$T/mid.env"
# --- a suspect last batch past the durable end: a write whose sync never returned ----
# (its producer killed at its fdatasync), with a bit flipped as a lost write leaves it.
# It was never acknowledged, so the next writer quarantines it, cuts it and appends.
if command -v strace >/dev/null && strace -f -o /dev/null -e inject=fdatasync:signal=KILL:when=1 true 2>/dev/null; then
  make_topic unsynced 9
  seg=$(segment_path unsynced 0)
  rc=0
  strace -f -o /dev/null -e inject=fdatasync:signal=KILL:when=1 \
    pspf-produce -q unsynced <<<"{\"n\":9,\"pad\":\"$pad\"}" 2>/dev/null || rc=$?
  expect_eq 137 "$rc" "the producer killed at its sync"
  mapfile -t pos < <(batch_positions "$seg")
  expect_eq 10 "${#pos[@]}" "batches in the segment after the kill"
  flip_byte "$seg" $((pos[9] + 200))
  cp "$seg" "$T/unsynced.before"
  expect_exit 4 pspf-topics verify unsynced
  expect_exit 0 pspf-produce unsynced --receipts <<<'{"n":"next"}'
  expect_eq 9 "$(jq .offset "$OUT")" "offset of the append after an unsynced suspect batch"
  q="$seg.${pos[9]}.quarantine"
  expect_eq "$q" "$(quarantined unsynced)" "the quarantine file of the unsynced batch"
  tail -c +$((pos[9] + 1)) "$T/unsynced.before" >"$T/unsynced.cut"
  expect_same_file "$T/unsynced.cut" "$q" "the quarantined unsynced batch"
  expect_exit 0 pspf-topics verify unsynced
fi

expect_exit 0 pspf-replay mid
expect_eq "$({ seq 0 4; seq 6 39; } | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" \
  "the partition after re-appending from quarantine"

echo "ok: damage is never written past, and what recovery cuts is quarantined"
