#!/usr/bin/env bash
# Exactly-once consume-transform-produce: `pspf-consume --exec CMD --to OUT` is
# SIGKILLed at 30 random instants (once a random number of outputs is in OUT, plus a
# random short spin, so kills land before, during and after the append and the
# commit). After each kill OUT holds no output twice; at the end OUT holds exactly
# one output per input event, keyed as asked, and the group has no lag. Then a batch
# announced before a kill whose input compaction thinned is handed out again.
# shellcheck disable=SC2016  # the --exec command is jq's program
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
[ -x "$PSPF_BIN/pspf-consume" ] || skip "pspf-consume is not built"
RANDOM=31337
events=6000
kills=${PSPF_TRANSFORM_KILLS:-30}

seq 1 "$events" | awk '{printf "{\"n\":%d,\"k\":\"k%d\"}\n", $1, $1 % 11}' >in.jsonl
expect_exit 0 pspf-produce src --key-field k --partitions 4 -q in.jsonl
cmd='jq -c "{src: .n, square: (.n * .n), k}"'

outputs() { { pspf-replay out 2>/dev/null || true; } | wc -l; }
enough_or_exit() { [ "$(outputs)" -ge "$1" ] || ! kill -0 "$BG_PID" 2>/dev/null; }
no_duplicates() {
  local dups
  dups=$(pspf-replay out | jq -r .src | sort -n | uniq -d | head -n 3 | tr '\n' ' ')
  [ -z "$dups" ] || fail "$1: outputs for inputs $dups are in OUT twice"
}

for round in $(seq 1 "$kills"); do
  have=$(outputs)
  [ "$have" -ge "$events" ] && break
  target=$((have + 1 + RANDOM % 100))
  [ "$target" -le "$events" ] || target=$events
  bg_start pspf-consume -g tr src --batch $((10 + RANDOM % 90)) --batch-ms 5 \
    --exec "$cmd" --to out --out-key-field k 2>>consume.err
  wait_until 30 "round $round: $target outputs" enough_or_exit "$target"
  for ((i = RANDOM % 3000; i > 0; i--)); do :; done
  kill -9 "$BG_PID" 2>/dev/null || true
  wait "$BG_PID" 2>/dev/null || true
  no_duplicates "round $round"
done
[ "$round" -ge "$kills" ] || fail "only $round kills before the topic was done"
echo "$round kills"

expect_exit 0 pspf-consume -g tr src -e --exec "$cmd" --to out --out-key-field k
no_duplicates "final run"
pspf-replay out >out.jsonl
jq -r .src out.jsonl | sort -n >srcs
expect_same_file <(seq 1 "$events") srcs "one output per input event"
jq -e -s 'all(.[]; .square == .src * .src)' out.jsonl >/dev/null || fail "an output does not match its input"
pspf-replay out -J | jq -e -s 'all(.[]; .key == .value.k and (.id | test("^tr/src/[0-3]/[0-9]+-[0-9]+/[0-9]+$")))' >/dev/null ||
  fail "outputs are not keyed by k or have no derived id"
pspf-offsets describe -g tr --json | jq -e 'all(.[]; .lag == 0)' >/dev/null || fail "lag left after the final run"

# A member killed in a batch it announced, and the input compacted before the batch
# is handed out again: what is left of the batch's range is processed, once, under
# the batch's name, and the run ends. (Members used to wait for good for the batch's
# last offset, which compaction had removed.) k1..k4 twice: compaction keeps the
# second of each, so of the batch [0, 4] only offset 4 is left.
expect_exit 0 pspf-topics create csrc -P 1 --cleanup compact
printf '{"n":%d,"k":"k%d"}\n' 1 1 2 2 3 3 4 4 5 1 6 2 7 3 8 4 >c.jsonl
expect_exit 0 pspf-produce csrc --key-field k -q c.jsonl
set -m  # the member and its command in a group of their own, killed together
pspf-consume -g ctr csrc --batch 5 --exec 'touch started; while :; do sleep 0.01; done' \
  --to cout --out-key-field k 2>>consume.err &
pid=$!
set +m
BG_PIDS+=("$pid")
wait_until 20 "the command to start on the first batch" test -e started
kill -9 -- "-$pid"
wait "$pid" 2>/dev/null || true
expect_exit 0 pspf-compact csrc --roll -q
expect_exit 0 pspf-replay csrc
expect_eq '5 6 7 8' "$(jq -r .n "$OUT" | paste -sd' ')" "csrc after compaction"
expect_exit 0 timeout -s KILL 60 pspf-consume -g ctr csrc -e --batch 5 --exec "$cmd" --to cout \
  --out-key-field k
expect_exit 0 pspf-replay cout -J
expect_eq '5 6 7 8' "$(jq -r .value.src "$OUT" | paste -sd' ')" "outputs after the compacted batch"
expect_eq 'ctr/csrc/0/0-4/0' "$(jq -r .id "$OUT" | head -n 1)" "the id of the compacted batch's output"
pspf-offsets describe -g ctr --json | jq -e 'all(.[]; .lag == 0)' >/dev/null ||
  fail "lag left after the compacted batch"
echo ok
