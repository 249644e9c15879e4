#!/usr/bin/env bash
# --parallel N runs commands of different partitions at the same time while keeping
# each partition's batches in order; SIGTERM lets the batch in flight finish, commits
# it, and exits 0; a command killed by the signal leaves its batch uncommitted and
# the consumer exits 143.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done

expect_exit 0 pspf-topics create t -P 2
# Keys that land on partitions 0 and 1 (murmur2): found by producing and asking.
for k in a b c d e f g h; do echo "{\"k\":\"$k\"}" | pspf-produce t --key-field k --receipts -q; done >receipts
k0=$(jq -r 'select(.partition == 0) | .key' receipts | head -n 1)
k1=$(jq -r 'select(.partition == 1) | .key' receipts | head -n 1)
if [ -z "$k0" ] || [ -z "$k1" ]; then fail "no keys for both partitions: $(cat receipts)"; fi

# Each command waits (bounded) until a command of the other partition is running
# too: only possible when two run at once.
together='touch "running.$PSPF_PARTITION"; i=0
while [ ! -e running.0 ] || [ ! -e running.1 ]; do
  i=$((i + 1)); [ "$i" -lt 2000 ] || exit 9; sleep 0.005
done
cat >>"out.$PSPF_PARTITION"'
expect_exit 0 pspf-consume -g par t -e --batch 100 --parallel 2 --max-attempts 1 --exec "$together"
if [ ! -e running.0 ] || [ ! -e running.1 ]; then fail "the two partitions' commands did not overlap"; fi
expect_eq 8 "$(cat out.0 out.1 | wc -l)" "events processed with --parallel 2"

# Order within a partition with --parallel: batches of 1, 100 events per partition.
for i in $(seq 1 100); do printf '{"k":"%s","i":%d}\n{"k":"%s","i":%d}\n' "$k0" "$i" "$k1" "$i"; done >ordered.jsonl
expect_exit 0 pspf-produce t --key-field k -q ordered.jsonl
expect_exit 0 pspf-consume -g par t -e --batch 3 --parallel 2 --exec 'jq -c .i >>"seq.$PSPF_PARTITION"'
expect_same_file <(seq 1 100) seq.0 "partition 0 order"
expect_same_file <(seq 1 100) seq.1 "partition 1 order"

# SIGTERM while a command runs: the command finishes, its batch is committed, exit 0.
echo "{\"k\":\"$k0\",\"last\":1}" | pspf-produce t --key-field k -q
end0=$(pspf-offsets describe -g par --json | jq '.[] | select(.partition == 0) | .log_end_offset')
bg_start pspf-consume -g par t --exec 'touch started; while [ ! -e go ]; do sleep 0.005; done; cat >/dev/null'
pid=$BG_PID
wait_until 10 "the command to start" test -e started
kill -TERM "$pid"
touch go
rc=0
wait "$pid" || rc=$?
expect_eq 0 "$rc" "exit status after SIGTERM between batches"
got=$(pspf-offsets describe -g par --json | jq '.[] | select(.partition == 0) | .current_offset')
expect_eq "$end0" "$got" "the batch in flight was committed"

# A command killed by the signal (as Ctrl-C does to the whole process group): its
# batch is not committed, and the consumer says so with 143.
echo "{\"k\":\"$k0\",\"again\":1}" | pspf-produce t --key-field k -q
rm -f started
set -m  # own process group for the consumer and its command
pspf-consume -g par t --exec 'touch started; while :; do sleep 0.005; done' &
pid=$!
set +m
BG_PIDS+=("$pid")
wait_until 10 "the command to start" test -e started
kill -TERM -- "-$pid"
rc=0
wait "$pid" || rc=$?
expect_eq 143 "$rc" "exit status when the batch's command died of the signal"
expect_eq "$end0" "$(pspf-offsets describe -g par --json | jq '.[] | select(.partition == 0) | .current_offset')" \
  "nothing committed for the interrupted batch"
echo ok
