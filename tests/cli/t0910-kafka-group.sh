#!/usr/bin/env bash
# pspf-consume -b: a Kafka consumer group on librdkafka's mock cluster. Two members
# split a topic's partitions; when one is killed (SIGKILL), the other takes its
# partitions over and every event is delivered. --exec commits a batch only after
# the command succeeded: a failing batch and everything after it are handed out
# again to the next run, exactly the ones not yet processed. pspf-offsets commit,
# reset and describe set and show where the group starts.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/kafka_lib.sh
. "$TESTS_CLI_DIR/kafka_lib.sh"
kafka_start 3 g:4 f:1 pairs:2

events() { # FIRST LAST: keyed events n=FIRST..LAST
  seq "$1" "$2" | sed 's/.*/{"k":"key-&","n":&}/'
}
# delivered N FILE...: the files hold N distinct events between them.
delivered() {
  local n=$1
  shift
  [ "$(cat "$@" | jq -rR 'fromjson? | .value.n' | sort -u | wc -l)" -ge "$n" ]
}
# has_range FIRST LAST FILE: FILE holds every event n=FIRST..LAST.
has_range() {
  [ "$(jq -rR --argjson a "$1" --argjson b "$2" 'fromjson? | select(.value.n >= $a and .value.n <= $b) | .value.n' "$3" |
    sort -u | wc -l)" -eq $(($2 - $1 + 1)) ]
}

# (The members append to their files, so that the test can empty them as they run.)
# --- two members share the partitions; one is killed, the other takes over ---------------
events 1 400 | pspf-produce -q -b "$B" --key-field k g
bg_start pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g split g -J >>"$T/a.out" 2>"$T/a.err"
a=$BG_PID
bg_start pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g split g -J >>"$T/b.out" 2>"$T/b.err"
wait_until 60 "the first 400 events" delivered 400 "$T/a.out" "$T/b.out"
wait_until 60 "both members to get partitions" test -s "$T/a.out" -a -s "$T/b.out"
: >"$T/a.out"
: >"$T/b.out"
events 401 800 | pspf-produce -q -b "$B" --key-field k g
wait_until 60 "events 401-800" delivered 400 "$T/a.out" "$T/b.out"
pa=$(jq -rR 'fromjson? | .partition' "$T/a.out" | sort -u | paste -sd,)
pb=$(jq -rR 'fromjson? | .partition' "$T/b.out" | sort -u | paste -sd,)
if [ -z "$pa" ] || [ -z "$pb" ]; then fail "one member got no partition: a=[$pa] b=[$pb]"; fi
[ -z "$(comm -12 <(tr , '\n' <<<"$pa") <(tr , '\n' <<<"$pb"))" ] || fail "members share a partition: a=[$pa] b=[$pb]"
expect_eq "0,1,2,3" "$(printf '%s\n%s\n' "$pa" "$pb" | tr , '\n' | sort -n | paste -sd,)" "partitions of the two members"
kill -9 "$a"
events 801 1200 | pspf-produce -q -b "$B" --key-field k g
wait_until 90 "the survivor to deliver events 801-1200 (after the session timeout)" \
  has_range 801 1200 "$T/b.out"

# --- two members that start together hand out each event once between them -------------
# (A commit refused while the group rebalances is made when the partition is given
# up, so the next owner starts after what was delivered.)
events 1 40 | pspf-produce -q -b "$B" --key-field k pairs
bg_start pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g pair pairs -e -J >"$T/p1.out" 2>"$T/p1.err"
p1=$BG_PID
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g pair pairs -e -J
cp "$OUT" "$T/p2.out"
wait "$p1"
expect_eq "$(seq 1 40 | paste -sd' ')" "$(cat "$T/p1.out" "$T/p2.out" | jq -r .value.n | sort -n | paste -sd' ')" \
  "events of two members started together"

# --- --exec commits only after success ---------------------------------------------------
events 1 20 | pspf-produce -q -b "$B" --key-field k f
# shellcheck disable=SC2016 # expanded by the command's own shell
fail_on_12='out=$(cat); if grep -q "\"n\":12}" <<<"$out"; then exit 3; fi; printf "%s\n" "$out" >>"$0"'
expect_exit 1 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g ex f -e --batch 5 --max-attempts 1 \
  --exec "bash -c '$fail_on_12' $T/processed"
expect_eq "$(seq 1 10 | paste -sd' ')" "$(jq -r .n "$T/processed" | paste -sd' ')" \
  "events processed before the failing batch"
expect_exit 0 pspf-offsets -b "$B" describe -g ex --json
expect_eq "10 10" "$(jq -r '.[] | "\(.current_offset) \(.lag)"' "$OUT")" "committed: the batches that succeeded"
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g ex f -e --batch 5 \
  --exec "cat >>$T/processed"
expect_eq "$(seq 1 20 | paste -sd' ')" "$(jq -r .n "$T/processed" | paste -sd' ')" \
  "each event processed once, the failed batch again"
expect_exit 0 pspf-offsets -b "$B" describe -g ex --json
expect_eq "20 0" "$(jq -r '.[] | "\(.current_offset) \(.lag)"' "$OUT")" "committed at the end"

# --- a plain member commits all its partitions in one request ----------------------------
# (librdkafka's cgrp debug log names each offset commit request and how many
# partitions it carries; one request per partition would show only "for 1".)
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g all g -e -X debug=cgrp
expect_eq 1200 "$(wc -l <"$OUT")" "events of topic g"
most=$(grep -o 'Committing offsets for [0-9]* partition' "$ERR" | awk '{ if ($4 > m) m = $4 } END { print m + 0 }')
[ "$most" -ge 2 ] || fail "no commit request carried more than one partition (most: $most): $(grep -c 'Committing offsets' "$ERR") requests"
expect_exit 0 pspf-offsets -b "$B" describe -g all --json
expect_eq "0 0 0 0" "$(jq -r '[.[] | .lag] | join(" ")' "$OUT")" "every partition committed at its end"

# --- pspf-offsets commit and reset: where a group starts ----------------------------------
# (librdkafka's mock cluster refuses offsets for a group that ever had a member, as
# a real broker does for a group with live ones: so each case has a new group.)
expect_exit 0 pspf-offsets -b "$B" commit -g c1 --topic f -p 0 --offset 15
expect_exit 0 pspf-offsets -b "$B" describe -g c1 --json
expect_eq "15 5" "$(jq -r '.[] | "\(.current_offset) \(.lag)"' "$OUT")" "describe after commit"
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g c1 f -e
expect_eq "$(seq 16 20 | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" "consume from the committed offset"
expect_exit 0 pspf-offsets -b "$B" reset -g c2 --topic f --to-offset 18
expect_contains "$ERR" "dry run"
expect_exit 1 pspf-offsets -b "$B" describe -g c2 --json
expect_contains "$ERR" "group 'c2' does not exist" "a dry run commits nothing"
expect_exit 0 pspf-offsets -b "$B" reset -g c2 --topic f --to-offset 18 --execute
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g c2 f -e
expect_eq "19 20" "$(jq -r .n "$OUT" | paste -sd' ')" "consume after reset --to-offset 18"
# Offsets of a group with members are Kafka's to refuse: exit 75, nothing changed.
expect_exit 75 pspf-offsets -b "$B" reset -g ex --topic f --to-earliest --execute
expect_contains "$ERR" "group ex has live members"
expect_exit 0 pspf-offsets -b "$B" describe -g ex --json
expect_eq "20" "$(jq -r '.[].current_offset' "$OUT")" "a refused reset changes nothing"
echo "ok: $TEST_NAME"
