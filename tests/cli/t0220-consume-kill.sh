#!/usr/bin/env bash
# A member running --exec is SIGKILLed 20 times while a command runs (after a random
# number of batches has completed, once the next command has started). The handler
# works for 0.15 s per batch (its sleep stands for real work, it synchronises nothing),
# so the kill lands mid-command: the test counts the kills that did (a command
# started, not finished, when the signal was sent) and requires at least 12. After
# each kill: no partition's committed offset is past the last batch whose command had
# finished successfully (commit after success), so a member that
# commits before its command has run fails here. At the end every event has been
# handed to a command that exited 0, and a handler that records ids idempotently
# holds exactly the set of all events.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done
RANDOM=2024

seq 1 3000 | awk '{printf "{\"id\":%d,\"k\":\"k%d\"}\n", $1, $1 % 13}' >in.jsonl
expect_exit 0 pspf-produce t --key-field k --partitions 4 -q in.jsonl
# The handler notes its start, records ids, works (the sleep), then (only once its
# work is done) records the batch's range. The last run is the same without the work.
handler='echo "$PSPF_PARTITION $PSPF_FIRST_OFFSET" >>started.txt && cat >>seen.jsonl && sleep 0.15 &&
  echo "$PSPF_PARTITION $PSPF_LAST_OFFSET" >>done.txt'
fast_handler='cat >>seen.jsonl && echo "$PSPF_PARTITION $PSPF_LAST_OFFSET" >>done.txt'
: >done.txt
: >started.txt

# committed_ok DONE: every committed offset is at most one past the highest last
# offset of a batch of that partition that had finished (in the file DONE).
committed_ok() {
  pspf-offsets describe -g g --json >desc.json || fail "describe failed after a kill"
  jq -r '.[] | select(.current_offset != null and .current_offset >= 0) | "\(.partition) \(.current_offset)"' desc.json |
    while read -r p c; do
      best=$(awk -v p="$p" '$1 == p && $2 > m {m = $2} END {print (m == "" ? -1 : m)}' "$1")
      [ "$c" -le $((best + 1)) ] || fail "partition $p committed $c before its batch finished (done up to $best)"
    done
}

landed=0
for round in $(seq 1 20); do
  # A command outlives its killed member (it is not killed with it) and finishes its
  # batch: wait for that, so that no two commands write seen.jsonl at once and the
  # counts below are this round's.
  settled() { [ "$(lines_in started.txt)" -le "$(lines_in done.txt)" ]; }
  wait_until 20 "round $round: the command of the last round to end" settled
  target=$(($(lines_in started.txt) + 1 + RANDOM % 3))
  bg_start pspf-consume -g g t --batch $((5 + RANDOM % 40)) --batch-ms 5 --exec "$handler" 2>>consume.err
  begun() { [ "$(lines_in started.txt)" -ge "$target" ] || ! kill -0 "$BG_PID" 2>/dev/null; }
  wait_until 20 "round $round: command $target to start" begun
  # Whether a command was running when the signal was sent (builtins only: no
  # process start between the count and the kill).
  started=$(lines_in started.txt)
  finished=$(lines_in done.txt)
  kill -9 "$BG_PID" 2>/dev/null || true
  wait "$BG_PID" 2>/dev/null || true
  if [ "$started" -gt "$finished" ]; then landed=$((landed + 1)); fi
  # What had finished by then: read after the member is dead, since a command may
  # end and be committed between the count and the kill (the commit follows the done
  # line, so no legitimate commit is missed; a command outliving the member only
  # adds a line later).
  cp done.txt done.snap
  committed_ok done.snap
done
echo "$landed of 20 kills landed while a command ran"
[ "$landed" -ge 12 ] || fail "only $landed of 20 kills landed while a command ran"

# Finish: run to the end, then check the whole set.
expect_exit 0 pspf-consume -g g t -e --exec "$fast_handler"
committed_ok done.txt
jq -r .id seen.jsonl | sort -n | uniq >ids
expect_same_file <(seq 1 3000) ids "every event handed to a successful command"
pspf-offsets describe -g g --json | jq -e 'all(.[]; .lag == 0)' >/dev/null || fail "lag left after the final run"
echo ok
