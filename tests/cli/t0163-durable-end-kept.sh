#!/usr/bin/env bash
# Acknowledged events are never given up by a command on its own (durable_end.h,
# pspf-log(5) DURABILITY): the durable end says which records were acknowledged,
# and when the log no longer holds them all, nothing lowers it but pspf-topics repair.
# For each way an acknowledged tail goes missing (a flipped bit in the last batch,
# the last batch cut short, the last batches gone whole):
# - pspf-consume -e and a following member fail naming the damage instead of ending
#   early, and leave the durable end as it was; pspf-replay fails (printing nothing)
#   unless its range stops before the damage;
# - pspf-produce appends nothing, moves nothing to quarantine, and reuses no offset;
# - pspf-topics verify reports the partition damaged (exit 1);
# - pspf-topics repair lowers the durable end to what is left and says which
#   offsets are lost; then the next append takes the first of them.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

pad=$(printf '%0200d' 0)
# make_topic NAME: a 1-partition topic of 10 events {"n":0..9}, one synced batch each.
make_topic() {
  expect_exit 0 pspf-topics create "$1" -P 1
  for ((i = 0; i < 10; i++)); do
    printf '{"n":%d,"pad":"%s"}\n' "$i" "$pad" | pspf-produce "$1" -q || fail "produce $i"
  done
}
# durable_end TOPIC: the durable end published in partition 0's lock file.
durable_end() {
  i64_at "$PSPF_DIR/topics/$1/0/lock" 8
}
quarantined() {
  find "$PSPF_DIR/topics/$1/0" -name '*.quarantine' | sort
}

# damage NAME HOW: make_topic, then take the acknowledged tail away.
damage() {
  make_topic "$1"
  local seg
  seg=$(segment_path "$1" 0)
  mapfile -t pos < <(batch_positions "$seg")
  expect_eq 10 "${#pos[@]}" "batches of $1"
  expect_eq 10 "$(durable_end "$1")" "durable end of $1 before the damage"
  case $2 in
    flip) flip_byte "$seg" $((pos[9] + 120)) ;; # a byte of the last batch's records
    cut) truncate -s $((pos[9] + 40)) "$seg" ;; # the last batch cut short
    gone) truncate -s "${pos[8]}" "$seg" ;;     # the last two batches gone whole
  esac
}

for how in flip cut gone; do
  t=t$how
  damage "$t" "$how"
  seg=$(segment_path "$t" 0)
  cp "$seg" "$T/$t.before"
  left=9
  [ "$how" = gone ] && left=8
  # Readers: the events before the damage, then an error naming it.
  expect_exit 1 pspf-consume "$t" -g g1 -e
  expect_contains "$ERR" "topic $t partition 0" "$how: consume -e"
  expect_contains "$ERR" "acknowledged" "$how: consume -e"
  expect_eq 10 "$(durable_end "$t")" "$how: durable end after consume -e"
  expect_exit 1 pspf-replay "$t"
  expect_empty "$OUT" "$how: what replay prints of a range that reaches the damage"
  expect_contains "$ERR" "topic $t partition 0: acknowledged events are damaged or missing" \
    "$how: replay"
  expect_exit 1 pspf-replay "$t" --until $((left + 1))
  expect_exit 1 pspf-replay "$t" --latest
  expect_exit 0 pspf-replay "$t" --until "$left"
  expect_eq "$(seq 0 $((left - 1)) | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" \
    "$how: what replay prints of a range that stops before the damage"
  # A member that follows the partition is stopped too, instead of waiting for ever.
  expect_exit 1 timeout 20 pspf-consume "$t" -g g2
  expect_lines "$left" "$OUT" "$how: events a following member handed out"
  expect_contains "$ERR" "acknowledged" "$how: following member"
  expect_eq 10 "$(durable_end "$t")" "$how: durable end after the readers"
  # The writer appends nothing, cuts nothing, moves nothing.
  expect_exit 1 pspf-produce "$t" --receipts <<<'{"n":"late"}'
  expect_empty "$OUT" "$how: receipts of a refused append"
  expect_contains "$ERR" "topic $t partition 0" "$how: produce"
  expect_same_file "$T/$t.before" "$seg" "$how: the segment after a refused append"
  expect_eq "" "$(quarantined "$t")" "$how: quarantine files after a refused append"
  expect_eq 10 "$(durable_end "$t")" "$how: durable end after the refused append"
  # verify: damaged.
  expect_exit 1 pspf-topics verify "$t"
  expect_contains "$OUT" "topic $t partition 0: DAMAGED" "$how: verify"
  expect_contains "$OUT" "acknowledged" "$how: verify"
  # repair: says what is lost, lowers the durable end; the next append goes on from there.
  expect_exit 0 pspf-topics repair "$t"
  expect_contains "$OUT" "offsets $left to 9 are lost" "$how: repair"
  expect_eq "$left" "$(durable_end "$t")" "$how: durable end after repair"
  expect_exit 0 pspf-topics verify "$t"
  expect_exit 0 pspf-produce "$t" --receipts <<<'{"n":"next"}'
  expect_eq "$left" "$(jq .offset "$OUT")" "$how: offset of the append after repair"
  expect_exit 0 pspf-consume "$t" -g g1 -e
  expect_eq "$(seq 0 $((left - 1)) | paste -sd' ') next" "$(jq -r .n "$OUT" | paste -sd' ')" \
    "$how: what a group reads after repair"
done

echo "ok: acknowledged events are given up only by repair"
