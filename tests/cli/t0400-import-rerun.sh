#!/usr/bin/env bash
# A cron import re-run after crashes. The same 4,000-line file is imported again and
# again, each run SIGKILLed once a random number of new events is appended (50
# kills), then run to its end. Two ways to make the re-runs safe, each on its own
# topic: --id-field (every event has an id) and --producer-id (line positions). Every
# 10th run starts with the partitions' id, key and producer caches deleted or
# overwritten with garbage: they are rebuilt from the log with the same answers.
# At the end each topic holds every input event exactly once, in input order per
# key, and pspf-topics verify finds nothing wrong. Then bytes flipped in occupied
# slots of the id index (its header left valid): a re-run still appends nothing.
# Last, a keyless import resumed.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
RANDOM=4711
lines=4000
kills=${PSPF_IMPORT_KILLS:-50}

awk -v n="$lines" 'BEGIN { for (i = 1; i <= n; i++)
  printf "{\"event_id\":\"ev-%d\",\"seq\":%d,\"item\":\"item-%d\",\"pad\":\"%0" (i % 90) "d\"}\n", i, i, i % 7, 0 }' >in.jsonl

# feed FAST: the input file; after its first FAST lines, in bursts of 1..8 lines
# with short pauses, so that the producer appends many small batches and a kill can
# land between any two.
feed() {
  local n=0 burst=$((1 + RANDOM % 8)) line i=0
  while IFS= read -r line; do
    printf '%s\n' "$line" || return 0
    i=$((i + 1))
    [ "$i" -le "$1" ] && continue
    n=$((n + 1))
    if [ "$n" -ge "$burst" ]; then
      n=0
      burst=$((1 + RANDOM % 8))
      nap 0.002
    fi
  done <in.jsonl
}

# damage_caches TOPIC ROUND: deletes or overwrites the caches of every partition.
damage_caches() {
  local f
  for f in "$PSPF_DIR/topics/$1"/*/ids.hix "$PSPF_DIR/topics/$1"/*/keys.hix "$PSPF_DIR/topics/$1"/*/producers.json; do
    [ -e "$f" ] || continue
    if [ $(($2 % 20)) -eq 0 ]; then
      rm -f -- "$f"
    else
      head -c 3000 /dev/urandom | dd of="$f" bs=1 seek=16 conv=notrunc status=none
    fi
  done
}

appended_in() { grep -c '"offset"' "$1" || true; }
progress_or_exit() { [ "$(appended_in receipts)" -ge "$1" ] || ! kill -0 "$BG_PID" 2>/dev/null; }

# check TOPIC: every input event exactly once, in input order per key.
check() {
  pspf-replay "$1" --no-merge >out.jsonl
  jq -r .seq out.jsonl | sort -n >seqs
  expect_same_file <(seq 1 "$lines") seqs "$1: every input line exactly once"
  jq -r '"\(.item) \(.seq)"' out.jsonl |
    awk '{ if ($1 in last && $2 <= last[$1]) { print "key " $1 ": " $2 " after " last[$1]; bad = 1 } last[$1] = $2 }
         END { exit bad }' || fail "$1: an item's events are out of input order"
  expect_exit 0 pspf-topics verify "$1"
}

for mode in id producer; do
  topic=imp-$mode
  if [ "$mode" = id ]; then args=(--id-field event_id); else args=(--producer-id nightly); fi
  expect_exit 0 pspf-topics create "$topic" -P 3
  for round in $(seq 1 "$kills"); do
    [ $((round % 10)) -eq 0 ] && damage_caches "$topic" "$round"
    # Lines well before the last kill go by at full speed (they are all appended).
    fast=$(($(pspf-replay "$topic" | wc -l) - 100))
    : >receipts
    target=$((1 + RANDOM % 40))
    # (not bg_start: a background command's stdin must be redirected on the command)
    pspf-produce "$topic" --key-field item "${args[@]}" --receipts -q <(feed "$fast") >receipts 2>>produce.err &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
    wait_until 30 "$mode run $round: $target new events" progress_or_exit "$target"
    if ! kill -0 "$BG_PID" 2>/dev/null; then
      rc=0
      wait "$BG_PID" || rc=$?
      # On a loaded machine kills land late and the input can run out before the
      # last round: a run that completed is fine once enough kills have landed.
      if [ "$rc" -eq 0 ] && [ "$round" -gt 20 ]; then
        echo "$mode: the input ran out at run $round (each kill landed late)"
        break
      fi
      fail "$mode run $round: pspf-produce ended (exit $rc) before the kill: $(tail -n 2 produce.err)"
    fi
    kill -9 "$BG_PID" 2>/dev/null || true
    wait "$BG_PID" 2>/dev/null || true
    # Whatever was appended so far is never appended twice.
    [ "$(pspf-replay "$topic" | jq -r .seq | sort -n | uniq -d | wc -l)" -eq 0 ] ||
      fail "$mode run $round: an event is in the log twice"
  done
  expect_exit 0 pspf-produce "$topic" --key-field item "${args[@]}" in.jsonl
  expect_contains "$ERR" "appended"
  check "$topic"
  # One more full run appends nothing at all.
  expect_exit 0 pspf-produce "$topic" --key-field item "${args[@]}" --receipts in.jsonl
  expect_eq "$(appended_in "$OUT")" 0 "$mode: events appended by a run after a complete one"
done

# Damage inside the id index's slots, its header left valid: each slot carries a check,
# so a lookup that passes a damaged one rebuilds the index from the log, where a
# flipped offset or hash used to read as a miss and let the duplicate in.
for f in "$PSPF_DIR"/topics/imp-id/*/ids.hix; do
  for pos in $(od -An -v -t u1 -w1 -j 64 "$f" | awk '$1 != 0 && n++ < 40 { print NR - 1 + 64 }'); do
    flip_byte "$f" "$pos"
  done
done
expect_exit 0 pspf-produce imp-id --key-field item --id-field event_id --receipts in.jsonl
expect_eq 0 "$(appended_in "$OUT")" "id: events appended after slots of the id index were damaged"
check imp-id

# Keyless lines: a re-run must send each line to the partition the first run sent
# it to (by position, not by a per-process sticky partition).
head -n 2500 in.jsonl | expect_exit 0 pspf-produce keyless --producer-id plain --partitions 3
expect_exit 0 pspf-produce keyless --producer-id plain in.jsonl
expect_contains "$ERR" "skipped 2500 lines appended by an earlier run"
pspf-replay keyless | jq -r .seq | sort -n >seqs
expect_same_file <(seq 1 "$lines") seqs "keyless: every input line exactly once"
echo ok
