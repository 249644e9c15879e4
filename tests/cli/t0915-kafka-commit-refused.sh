#!/usr/bin/env bash
# pspf-consume -b: an offset commit that Kafka refuses because the group is
# rebalancing (REBALANCE_IN_PROGRESS) is not forgotten. The member sends it again
# until the group records it; -e does not exit before; and a member that gets back
# a partition whose commit was refused goes on after what it delivered, instead of
# handing those events out a second time. A commit refused for longer than
# pspf.timeout.ms stops the command (exit 1) instead of leaving it waiting. (The mock cluster fails the offset
# commit requests on command: API key 8, error 27.)
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/kafka_lib.sh
. "$TESTS_CLI_DIR/kafka_lib.sh"
kafka_start 3 solo:1 other:1 ex:1 stuck:1

events() { # FIRST LAST: events n=FIRST..LAST
  seq "$1" "$2" | sed 's/.*/{"n":&}/'
}
# lag GROUP TOPIC: the group's committed offset and lag on the topic's partition 0.
lag() {
  expect_exit 0 pspf-offsets -b "$B" describe -g "$1" --json
  jq -r --arg t "$2" '.[] | select(.topic == $t) | "\(.current_offset) \(.lag)"' "$OUT"
}
# lag_is GROUP TOPIC WANT: lag GROUP TOPIC prints WANT (to poll).
lag_is() {
  pspf-offsets -b "$B" describe -g "$1" --json >"$T/describe.json" 2>/dev/null &&
    [ "$(jq -r --arg t "$2" '.[] | select(.topic == $t) | "\(.current_offset) \(.lag)"' "$T/describe.json")" = "$3" ]
}
# each_once FIRST LAST FILE: FILE holds events n=FIRST..LAST, each once, in order.
each_once() {
  expect_eq "$(seq "$1" "$2" | paste -sd' ')" "$(jq -r .value.n "$3" | paste -sd' ')" "$4"
}

# --- -e: the last commit, refused six times, is made before the command exits ------
events 1 10 | pspf-produce -q -b "$B" solo
kafka_cmd errors 8 6 27
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g end solo -e -J
each_once 1 10 "$OUT" "events of the first run"
expect_eq "10 0" "$(lag end solo)" "committed when the first run exited"
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g end solo -e -J
expect_empty "$OUT" "a second run of the group: nothing left"

# --- --exec -e: the same for a batch's commit ------------------------------------------
events 1 10 | pspf-produce -q -b "$B" ex
kafka_cmd errors 8 6 27
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g exg ex -e --batch 4 \
  --exec "cat >>$T/processed"
expect_eq "$(seq 1 10 | paste -sd' ')" "$(jq -r .n "$T/processed" | paste -sd' ')" "processed by --exec"
expect_eq "10 0" "$(lag exg ex)" "--exec: committed when the run exited"

# --- a partition given back after a rebalance during which every commit was refused --
# The member of topic solo delivers events 11-20 while Kafka refuses its commits. A
# second member joins the group for topic other: the group rebalances, the first
# member gives solo's partition up (its commit refused again) and, as the only
# member of solo, gets it back. It must go on after event 20.
events 11 20 | pspf-produce -q -b "$B" solo
kafka_cmd errors 8 100000 27
bg_start pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g end solo -J >>"$T/a.out" 2>"$T/a.err"
wait_until 60 "the first member's events 11-20" has_lines "$T/a.out" 10
events 1 1 | pspf-produce -q -b "$B" other
bg_start pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g end other -J >>"$T/b.out" 2>"$T/b.err"
wait_until 60 "the second member's event (the rebalance done)" has_lines "$T/b.out" 1
kafka_cmd clear 8
events 21 25 | pspf-produce -q -b "$B" solo
wait_until 60 "the first member's events 21-25" has_lines "$T/a.out" 15
wait_until 30 "the commit of offset 25" lag_is end solo "25 0"
each_once 11 25 "$T/a.out" "events of the member that got its partition back"
expect_contains "$T/a.err" "could not commit offset 20" "the refused commit is named"

# --- refused for longer than pspf.timeout.ms: exit 1, naming the offset ---------------
events 1 5 | pspf-produce -q -b "$B" stuck
kafka_cmd errors 8 100000 27
expect_exit 1 timeout 40 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -X pspf.timeout.ms=2000 \
  -g stuck stuck -e -J
each_once 1 5 "$OUT" "events delivered before the commits were refused"
expect_contains "$ERR" "topic stuck partition 0: the group refused to commit offset 5 for 2000 ms"
kafka_cmd clear 8
echo "ok: $TEST_NAME"
