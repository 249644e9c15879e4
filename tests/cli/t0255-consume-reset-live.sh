#!/usr/bin/env bash
# A forced reset (pspf-offsets reset --force --execute) reaches a live member idle at
# the log end within a second, with no new data: reset to the earliest offsets, it
# hands every event out again, at once. Reset to the latest offsets and followed at
# once by a new event, it hands that event out exactly once (it used to notice the
# reset only when its commit of that event was refused, and then hand it out again).
# 3 partitions, plain mode.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done

expect_exit 0 pspf-topics create t -P 3
seq 1 30 | awk '{printf "{\"id\":%d,\"k\":\"key-%d\"}\n", $1, $1 % 7}' >in.jsonl
expect_exit 0 pspf-produce t --key-field k -q in.jsonl
bg_start pspf-consume -g g t >out 2>err </dev/null
# settled N: the member owns all 3 partitions, has committed each at the log end, and
# has delivered N events.
settled() {
  has_lines out "$1" &&
    pspf-offsets describe -g g --json | jq -e 'length == 3 and all(.[]; .lag == 0 and .owner != null)' >/dev/null
}
wait_until 10 "the member to deliver and commit the 30 events" settled 30

# 1. Reset to the earliest offsets while the member is idle: the 30 events again,
# within a second, although nothing new arrives.
start=$(now_ms)
expect_exit 0 pspf-offsets reset -g g --all-topics --to-earliest --force --execute
wait_until 5 "the 30 events to be handed out again" has_lines out 60
took=$(($(now_ms) - start))
[ "$took" -le 1000 ] || fail "the idle member took ${took} ms to notice the reset (want 1 s at most)"
wait_until 10 "the member to commit the replay" settled 60
expect_eq "$( (seq 1 30; seq 1 30) | sort -n | tr '\n' ' ')" "$(jq -r .id out | sort -n | tr '\n' ' ')" \
  "each event twice: once, then once again after the reset"
expect_eq 60 "$(wc -l <out)" "nothing more after the replay"

# 2. Reset to the latest offsets, then a new event at once: handed out exactly once.
expect_exit 0 pspf-offsets reset -g g --all-topics --to-latest --force --execute
printf '{"id":31,"k":"key-1"}\n' | pspf-produce t --key-field k -q
# Committed at the log end: a member that hands the event out twice has done so by
# then (its first commit is refused; its second, after handing it out again, counts).
wait_until 10 "the member to commit the new event" settled 61
expect_eq "31 " "$(jq -r .id out | tail -n +61 | tr '\n' ' ')" "the new event, exactly once"
expect_eq "" "$(cat err)" "no note of a refused commit"
