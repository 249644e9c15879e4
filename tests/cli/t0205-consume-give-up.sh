#!/usr/bin/env bash
# Batches whose command fails for good, with no dead-letter topic: pspf-consume
# --max-attempts 2 tries a batch twice (the same records each time), exits 1 naming
# it, moves no committed offset of any partition (7 of them, one committed before),
# and the next run of the group is handed the very same batches again (same
# partition, offsets and records), then the rest.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done

seq 1 700 | awk '{printf "{\"n\":%d,\"k\":\"k%d\"}\n", $1, $1 % 29}' >in.jsonl
expect_exit 0 pspf-produce t --key-field k --partitions 7 -q in.jsonl
# Some offsets committed first, so that "unchanged" is not only "still none".
expect_exit 0 pspf-consume -g g t -e -c 100
offsets() { pspf-offsets describe -g g --json | jq -c '[.[] | {partition, current_offset}] | sort_by(.partition)'; }
before=$(offsets)
[ "$(jq '[.[] | select(.current_offset > 0)] | length' <<<"$before")" -gt 0 ] ||
  fail "the first run committed nothing: $before"

# Every attempt saves its batch and environment, then fails. While a batch waits for
# its retry the member goes on with other partitions' batches, so several batches are
# tried; the first one out of attempts stops the member.
expect_exit 1 pspf-consume -g g t -e --batch 10 --max-attempts 2 \
  --exec 'cat >"try.$PSPF_PARTITION.$PSPF_ATTEMPT.jsonl"; echo "$PSPF_PARTITION $PSPF_FIRST_OFFSET $PSPF_LAST_OFFSET $PSPF_ATTEMPT" >>tries.txt; exit 5'
expect_contains "$ERR" "exit status 5), attempt 2 of 2"
expect_contains "$ERR" "giving up: nothing committed for that batch"
sort -u tries.txt | awk '$4 == 2' >gave_up
[ -s gave_up ] || fail "no batch was tried twice: $(cat tries.txt)"
# One batch per partition was tried, each time the same one, never more than twice.
awk '{print $1, $2, $3}' tries.txt | sort -u >batches
expect_eq "$(cut -d' ' -f1 batches | sort -u | wc -l)" "$(line_count batches)" "one batch per partition tried"
awk '$4 > 2 {bad = 1} END {exit bad}' tries.txt || fail "a batch was tried more than twice: $(cat tries.txt)"
while read -r p _ _ _; do
  expect_same_file "try.$p.1.jsonl" "try.$p.2.jsonl" "records of both attempts on partition $p"
done <gave_up
expect_eq "$before" "$(offsets)" "committed offsets after giving up"

# The next run is handed every tried batch again, first on its partition.
expect_exit 0 pspf-consume -g g t -e --batch 10 \
  --exec 'cat >"again.$PSPF_PARTITION.$PSPF_FIRST_OFFSET.jsonl"; echo "$PSPF_PARTITION $PSPF_FIRST_OFFSET $PSPF_LAST_OFFSET" >>again.txt'
while read -r p first last; do
  expect_eq "$p $first $last" "$(awk -v p="$p" '$1 == p' again.txt | head -n 1)" "the first batch of partition $p on the next run"
  expect_same_file "try.$p.1.jsonl" "again.$p.$first.jsonl" "the records of partition $p handed out again"
done <batches
# Nothing was lost or skipped: the second run hands out everything after the first.
total=$(awk '{s += $3 - $2 + 1} END {print s}' again.txt)
expect_eq 600 "$total" "events handed out by the run after the failure"
echo ok
