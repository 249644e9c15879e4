#!/usr/bin/env bash
# pspf-consume in plain mode: a new group starts at --from, reads to the end (-e),
# commits after delivering, and a second run resumes after what was delivered;
# -c stops after N and commits exactly N; --idle-exit stops a follower; --exec hands
# batches with their environment; a failing command is retried, then either stops
# the consumer with nothing committed or sets the batch aside in a dead-letter topic.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
[ -x "$PSPF_BIN/pspf-consume" ] || skip "pspf-consume is not built"

seq 1 100 | awk '{printf "{\"n\":%d,\"k\":\"k%d\"}\n", $1, $1 % 7}' >in.jsonl
expect_exit 0 pspf-produce t --key-field k --partitions 3 -q in.jsonl

# A new group reads everything once, in per-partition order.
expect_exit 0 pspf-consume -g g1 t -e
expect_lines 100 "$OUT" "first run of g1"
expect_eq "$(sort "$OUT" | md5sum)" "$(sort in.jsonl | md5sum)" "g1 got every event"
expect_exit 0 pspf-consume -g g1 t -e
expect_empty "$OUT" "second run of g1: everything was committed"

# New events are delivered once to an existing group.
echo '{"n":101,"k":"k1"}' | pspf-produce t --key-field k -q
expect_exit 0 pspf-consume -g g1 t -e
expect_eq '{"n":101,"k":"k1"}' "$(cat "$OUT")" "g1 resumes after its commit"

# -c N delivers N and commits exactly those N.
expect_exit 0 pspf-consume -g g2 t -e -c 30
expect_lines 30 "$OUT" "g2 -c 30"
cp "$OUT" first30
expect_exit 0 pspf-consume -g g2 t -e
expect_lines 71 "$OUT" "g2 rest"
expect_eq "$(cat first30 "$OUT" | sort | md5sum)" \
  "$( (cat in.jsonl; echo '{"n":101,"k":"k1"}') | sort | md5sum)" "g2 saw every event exactly once"

# --from end: a new group starting at the end sees only later events.
expect_exit 0 pspf-consume -g g3 t -e --from end
expect_empty "$OUT" "g3 from end"
echo '{"n":102,"k":"k2"}' | pspf-produce t --key-field k -q
expect_exit 0 pspf-consume -g g3 t -e -J
expect_eq 102 "$(jq -r .value.n "$OUT")" "g3 envelope value"
expect_eq k2 "$(jq -r .key "$OUT")" "g3 envelope key"

# --idle-exit stops a follower once nothing comes for that long.
expect_exit 0 pspf-consume -g g4 t --idle-exit 300ms
expect_lines 102 "$OUT" "g4 follower with idle exit"

# --exec: batches of one partition, in order, with their environment.
expect_exit 0 pspf-consume -g g5 t -e --batch 10 \
  --exec 'n=$(wc -l); echo "$PSPF_GROUP $PSPF_TOPIC $PSPF_PARTITION $PSPF_FIRST_OFFSET $PSPF_LAST_OFFSET $n" >>batches.txt'
total=$(awk '{s += $6} END {print s}' batches.txt)
expect_eq 102 "$total" "events handed to commands"
awk '$6 > 10 || $5 - $4 + 1 != $6 || $1 != "g5" || $2 != "t" {bad++} END {exit bad > 0}' batches.txt ||
  fail "a batch was over 10 events or its offsets do not match its size: $(cat batches.txt)"
# Per partition, batches follow each other without gaps or overlaps.
sort -k3,3n -k4,4n batches.txt | awk '$3 == p && $4 != next_ {bad++} {p = $3; next_ = $5 + 1} END {exit bad > 0}' ||
  fail "batches of a partition are not consecutive: $(cat batches.txt)"
expect_exit 0 pspf-consume -g g5 t -e --exec 'cat >>again.txt'
[ ! -s again.txt ] || fail "g5 got events again after they were committed"

# A command that always fails: retried, then the consumer stops, nothing committed.
expect_exit 0 pspf-produce one --partitions 1 -q in.jsonl
expect_exit 1 pspf-consume -g g6 one -e --batch 5 --max-attempts 2 --exec 'echo try >>tries.txt; exit 3'
expect_contains "$ERR" "exit status 3"
expect_eq 2 "$(line_count tries.txt)" "attempts"
expect_exit 0 pspf-consume -g g6 one -e
expect_lines 100 "$OUT" "g6 still has everything: nothing was committed"

# With --dead-letter the failed batch is set aside with the error and the rest goes on.
expect_exit 0 pspf-consume -g g7 t -e --batch 1000 --max-attempts 1 --dead-letter t.dlq \
  --exec 'cat >batch.jsonl; if grep -q "\"n\":50," batch.jsonl; then exit 4; fi; cat batch.jsonl >>ok.jsonl'
dlq=$(pspf-replay t.dlq -J | jq -s 'length')
ok=$(line_count ok.jsonl)
expect_eq 102 $((dlq + ok)) "events processed or set aside"
[ "$dlq" -gt 0 ] || fail "nothing in the dead-letter topic"
pspf-replay t.dlq -J | jq -e 'select(.headers["pspf-error"] | test("exit status 4"))' >/dev/null ||
  fail "dead-letter records do not carry the error"
expect_exit 0 pspf-consume -g g7 t -e
expect_empty "$OUT" "g7 committed the dead-lettered batch"

# --no-commit: nothing is committed, not even the starting point.
expect_exit 0 pspf-consume -g g8 t -e --no-commit
expect_lines 102 "$OUT" "g8 first run"
expect_exit 0 pspf-consume -g g8 t -e --no-commit --exec 'cat >/dev/null'
expect_exit 0 pspf-consume -g g8 t -e
expect_lines 102 "$OUT" "g8 after --no-commit runs: everything again"

# Usage errors.
expect_exit 2 pspf-consume t -e
expect_exit 2 pspf-consume -g g t --dead-letter x
# Numbers out of range name the option and the range.
for bad in "--batch 0" "--batch -1" "--batch 1.5" "--batch-ms -1" "--max-attempts 0" \
  "--max-attempts 2147483648" "--parallel 0" "--parallel x"; do
  read -r opt val <<<"$bad"
  expect_exit 2 pspf-consume -g g t --exec cat "$opt" "$val"
  expect_contains "$ERR" "pspf-consume: error: $opt: '$val' is not a whole number from " "$bad"
done
expect_exit 1 pspf-consume -g g nosuchtopic -e
expect_contains "$ERR" "does not exist"
echo ok
