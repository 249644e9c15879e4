#!/usr/bin/env bash
# A member running --exec is SIGKILLed 20 times at random instants (after a random
# number of batches has completed). After each kill: no partition's committed offset
# is past the last batch whose command had finished successfully (commit after
# success). At the end every event has been handed to a command that exited 0, and a
# handler that records ids idempotently holds exactly the set of all events.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done
RANDOM=2024

seq 1 3000 | awk '{printf "{\"id\":%d,\"k\":\"k%d\"}\n", $1, $1 % 13}' >in.jsonl
expect_exit 0 pspf-produce t --key-field k --partitions 4 -q in.jsonl
# The handler records ids, then (only once its work is done) the batch's range.
handler='cat >>seen.jsonl && echo "$PSPF_PARTITION $PSPF_LAST_OFFSET" >>done.txt'
: >done.txt

# committed_ok: every committed offset is at most one past the highest last offset of
# a finished batch of that partition.
committed_ok() {
  pspf-offsets describe -g g --json >desc.json || fail "describe failed after a kill"
  jq -r '.[] | select(.current_offset != null and .current_offset >= 0) | "\(.partition) \(.current_offset)"' desc.json |
    while read -r p c; do
      best=$(awk -v p="$p" '$1 == p && $2 > m {m = $2} END {print (m == "" ? -1 : m)}' done.txt)
      [ "$c" -le $((best + 1)) ] || fail "partition $p committed $c before its batch finished (done up to $best)"
    done
}

for round in $(seq 1 20); do
  before=$(line_count done.txt)
  target=$((before + 1 + RANDOM % 4))
  bg_start pspf-consume -g g t --batch $((5 + RANDOM % 40)) --batch-ms 5 --exec "$handler" 2>>consume.err
  grown() { [ "$(lines_in done.txt)" -ge "$target" ] || ! kill -0 "$BG_PID" 2>/dev/null; }
  wait_until 20 "round $round: batches to complete" grown
  kill -9 "$BG_PID" 2>/dev/null || true
  wait "$BG_PID" 2>/dev/null || true
  committed_ok
done

# Finish: run to the end, then check the whole set.
expect_exit 0 pspf-consume -g g t -e --exec "$handler"
committed_ok
jq -r .id seen.jsonl | sort -n | uniq >ids
expect_same_file <(seq 1 3000) ids "every event handed to a successful command"
pspf-offsets describe -g g --json | jq -e 'all(.[]; .lag == 0)' >/dev/null || fail "lag left after the final run"
echo ok
