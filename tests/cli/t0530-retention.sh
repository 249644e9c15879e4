#!/usr/bin/env bash
# Retention (cleanup delete) removes exactly the expected whole segments: by time,
# the closed segments whose newest event is older than the retention time; by bytes,
# the closed segments that lie wholly beyond the newest retention bytes of the
# partition. The active segment always stays, offsets do not change, and replay,
# describe and a consumer group carry on from the new start.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

expect_exit 0 pspf-topics create r -P 1 --segment-bytes 1024 --cleanup delete
dir=$PSPF_DIR/topics/r/0
# Six segments: each produce run appends one batch of 20 events (> 1024 bytes), so
# the next run starts a new segment. Each run's events are appended after the
# previous run's (a distinct millisecond).
last=0
for ((s = 0; s < 6; s++)); do
  wait_clock_past "$last"
  for ((i = 0; i < 20; i++)); do printf '{"s":%d,"i":%d,"pad":"%060d"}\n' "$s" "$i" 0; done >chunk
  expect_exit 0 pspf-produce r -q chunk
  last=$(now_ms)
done
segments() { (cd "$dir" && printf '%s\n' *.log); }  # the segment files, sorted
mapfile -t segs < <(segments)
expect_eq 6 "${#segs[@]}" "segments"
expect_exit 0 pspf-replay r -J
jq -r '.timestamp' "$OUT" >ts
ts_of() { sed -n "$(($1 * 20 + 20))p" ts; }  # newest event of segment N
expect_exit 0 pspf-consume r -g early -c 30   # a group at offset 30 (segment 1)

# No limits set: nothing goes.
expect_exit 0 pspf-compact r
expect_contains "$ERR" "0 segments (0 B) removed by retention"
expect_eq "${segs[*]}" "$(segments | paste -sd' ')" "segments with no retention limit"

# By time: with the clock just past segment 1's newest event + 1h, segments 0 and 1 go.
expect_exit 0 pspf-topics alter r --retention-time 1h
expect_exit 0 pspf-compact r --dry-run --json --now "@$(($(ts_of 1) + 3600000 + 1))"
expect_eq "2 40" "$(jq -r '.[0].partitions[0] | "\(.segments_deleted) \(.records_deleted)"' "$OUT")" "dry run by time"
expect_exit 0 pspf-compact r --now "@$(($(ts_of 1) + 3600000 + 1))"
expect_contains "$ERR" "2 segments ("
expect_eq "${segs[*]:2}" "$(segments | paste -sd' ')" "segments left by time"
expect_exit 0 pspf-replay r -J
expect_eq "40 $(seq 40 119 | paste -sd' ')" "$(jq -r .offset "$OUT" | head -1) $(jq -r .offset "$OUT" | paste -sd' ')" "offsets after retention"

# By bytes: keep what the newest two segments hold: segments 2 and 3 go (the active
# segment 5 and segment 4 stay).
bytes=$(($(stat -c %s "$dir/${segs[4]}") + $(stat -c %s "$dir/${segs[5]}")))
expect_exit 0 pspf-topics alter r --retention-time none --retention-bytes "$bytes"
expect_exit 0 pspf-compact r
expect_eq "${segs[*]:4}" "$(segments | paste -sd' ')" "segments left by bytes"
# One byte less: segment 4 still does not lie wholly beyond it (5 holds less).
expect_exit 0 pspf-topics alter r --retention-bytes $((bytes - 1))
expect_exit 0 pspf-compact r
expect_eq "${segs[*]:4}" "$(segments | paste -sd' ')" "segments left by bytes - 1"

# The active segment is never removed, however old.
expect_exit 0 pspf-topics alter r --retention-time 1ms --retention-bytes none
expect_exit 0 pspf-compact r --now "@$(($(now_ms) + 3600000))"
expect_eq "${segs[5]}" "$(segments | paste -sd' ')" "the active segment"
expect_exit 0 pspf-topics describe r --json
expect_eq "100 120 20" "$(jq -r '.partition_details[0] | "\(.start) \(.end) \(.records)"' "$OUT")" "describe"
# The group at offset 30 goes on from what is left.
expect_exit 0 pspf-consume r -g early -e
expect_lines 20 "$OUT" "events for the early group"
expect_eq '[5,0]' "$(head -1 "$OUT" | jq -c '[.s, .i]')" "first event for the early group"
expect_exit 0 pspf-topics verify r
echo "ok"
