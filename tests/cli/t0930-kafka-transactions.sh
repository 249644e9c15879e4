#!/usr/bin/env bash
# pspf-consume -b --exec CMD --to OUT: each batch's output and its input offset are
# written in one Kafka transaction (librdkafka's mock cluster):
#   - the output events are those of the local log's run of the same command: same
#     derived ids, keys and partitions;
#   - a batch whose command fails writes nothing: no transaction is begun for it;
#   - a transaction that must be aborted (the group coordinator refuses the offset
#     commit) is aborted and the batch processed again;
#   - a coordinator briefly unavailable is waited out, without an abort;
#   - a fenced producer stops the command (exit 1), saying that nothing of the
#     batch was committed.
# What the mock cluster cannot show: it accepts transactional offset commits without
# keeping them, and it writes no abort markers, so a read of OUT here also sees the
# events of aborted transactions, and a later run of the group starts again from
# the beginning. The checks below hold on a real cluster too; the atomicity itself
# is Kafka's.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/kafka_lib.sh
. "$TESTS_CLI_DIR/kafka_lib.sh"
kafka_start 3 in:2 one:1 out:3 out2:3 out3:3 out4:3 out5:3

seq 1 20 | sed 's/.*/{"k":"key-&","n":&}/' >"$T/in.jsonl"
pspf-produce -q -b "$B" --key-field k in "$T/in.jsonl"
pspf-produce -q -b "$B" --key-field k one "$T/in.jsonl"
double='jq -c "{k: .k, d: (.n * 2)}"'
# consume_to GROUP TOPIC OUT [OPTION...]: the group processes TOPIC into OUT.
consume_to() {
  pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g "$1" "$2" -e --batch 5 --exec "$double" \
    --to "$3" --out-key-field k "${@:4}"
}
# events OUT: OUT's events as "partition id key d", sorted.
events() {
  pspf-replay -b "$B" "$1" -J | jq -r '"\(.partition) \(.id) \(.key) \(.value.d)"' | sort
}

# --- the output, as the local log's run writes it -----------------------------------------
expect_exit 0 consume_to tx in out
expect_empty "$ERR" "stderr of a run without faults"
events out >"$T/kafka"
expect_lines 20 "$T/kafka" "output events"
expect_eq "$(seq 2 2 40 | paste -sd' ')" "$(cut -d' ' -f4 "$T/kafka" | sort -n | paste -sd' ')" \
  "each input event processed once"
pspf-produce -q --partitions 2 --key-field k in "$T/in.jsonl"
expect_exit 0 pspf-topics create -P 3 out
expect_exit 0 pspf-consume -g tx in -e --batch 5 --exec "$double" --to out --out-key-field k
pspf-replay out -J | jq -r '"\(.partition) \(.id) \(.key) \(.value.d)"' | sort >"$T/local"
expect_same_file "$T/local" "$T/kafka" "output on Kafka and on the local log (ids, keys, partitions)"

# --- a failing command: its batch writes nothing -------------------------------------------
# shellcheck disable=SC2016 # expanded by the command's own shell
fail_on_12='out=$(cat); if grep -q "\"n\":12}" <<<"$out"; then exit 3; fi; jq -c "{k: .k, d: (.n * 2)}" <<<"$out"'
expect_exit 1 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g fails one -e --batch 5 --max-attempts 1 \
  --exec "bash -c '$fail_on_12'" --to out2 --out-key-field k
expect_contains "$ERR" "giving up"
expect_eq "$(seq 2 2 20 | paste -sd' ')" "$(events out2 | cut -d' ' -f4 | sort -n | paste -sd' ')" \
  "output of the batches before the failing one"

# --- a transaction that must be aborted: the batch is processed again ---------------------
# (API key 28: TxnOffsetCommit; error 22: ILLEGAL_GENERATION, which requires an abort.)
kafka_cmd errors 28 1 22
expect_exit 0 consume_to aborts one out3
expect_contains "$ERR" "transaction aborted"
expect_contains "$ERR" "Specified group generation id is not valid"
expect_contains "$ERR" "attempt 1 of 3"
events out3 >"$T/aborts"
expect_eq "$(seq 2 2 40 | paste -sd' ')" "$(cut -d' ' -f4 "$T/aborts" | sort -nu | paste -sd' ')" \
  "every input event processed"
expect_eq 20 "$(cut -d' ' -f2 "$T/aborts" | sort -u | wc -l)" "distinct output ids"
# The aborted batch's first copy is there only because the mock writes no abort marker.
expect_lines 25 "$T/aborts" "events of OUT on the mock (20, and the 5 of the aborted transaction)"

# --- a coordinator briefly unavailable: waited out, nothing aborted -----------------------
# (API key 26: EndTxn; error 15: COORDINATOR_NOT_AVAILABLE.)
kafka_cmd errors 26 2 15
expect_exit 0 consume_to waits one out4
expect_not_contains "$ERR" "aborted"
expect_eq "$(seq 2 2 40 | paste -sd' ')" "$(events out4 | cut -d' ' -f4 | sort -n | paste -sd' ')" \
  "each input event's output once"

# --- a fenced producer: the command stops, nothing committed ------------------------------
# (Error 47: INVALID_PRODUCER_EPOCH, as when another producer took the transactional.id.)
kafka_cmd errors 26 1 47
expect_exit 1 consume_to fenced one out5
expect_contains "$ERR" "the transaction of a batch of topic one partition 0 (output to topic out5) failed for good"
expect_contains "$ERR" "nothing of it was committed"
# -X transactional.id gives a member a lasting id; a setting librdkafka refuses is named.
expect_exit 0 consume_to named one out5 -X transactional.id=pspf-test-member
expect_exit 2 consume_to named one out5 -X transaction.timeout.ms=nope
expect_contains "$ERR" "transaction.timeout.ms"
expect_exit 2 pspf-produce -b "$B" -X transactional.id=x one <<<'{"n":0}'
expect_contains "$ERR" "-X transactional.id is for pspf-consume --exec --to"
