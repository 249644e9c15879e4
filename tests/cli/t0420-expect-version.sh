#!/usr/bin/env bash
# Optimistic concurrency per key. 16 bash loops run at once, each appending 50
# events to the same key the way an event-sourced script does: read the key's
# version with `pspf-replay --key K --current-version`, append with
# `pspf-produce --expect-version V`, and on exit 3 (somebody else appended first)
# read again and retry. The key ends with exactly 800 events whose recorded
# expected versions are 0..799 in log order (no gap, no two appends on one read),
# and every exit 3 left nothing behind. Also: the exact exit codes, messages and
# receipts of each form of --expect-version.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
loops=${PSPF_EV_LOOPS:-16}
each=${PSPF_EV_EACH:-50}

expect_exit 0 pspf-topics create acct -P 3

# Each form, one at a time.
expect_exit 0 pspf-replay acct --key solo --current-version
expect_eq "$(cat "$OUT")" "-1" "version of a key without events"
echo '{"v":0}' | expect_exit 3 pspf-produce acct -k solo --expect-version exists --receipts
expect_contains "$ERR" "key solo is at version -1, expected exists"
expect_contains "$OUT" '"error":"version_mismatch"'
expect_contains "$OUT" '"current_version":-1'
echo '{"v":0}' | expect_exit 0 pspf-produce acct -k solo --expect-version no_stream --receipts
expect_contains "$OUT" '"version":0'
printf '{"v":1}\n{"v":2}\n' | expect_exit 0 pspf-produce acct -k solo --expect-version 0 --receipts
expect_contains "$OUT" '"version":2'
echo '{"v":9}' | expect_exit 3 pspf-produce acct -k solo --expect-version 1
expect_exit 0 pspf-replay acct --key solo --current-version
expect_eq "$(cat "$OUT")" "2" "version after 3 events and a refused append"
printf '{"v":3,"k":"solo"}\n{"v":3,"k":"other"}\n' | expect_exit 65 pspf-produce acct --key-field k --expect-version 2
expect_contains "$ERR" "same key"
expect_exit 0 pspf-replay acct --key solo --current-version
expect_eq "$(cat "$OUT")" "2" "version after a refused mixed-key input"
echo '{}' | expect_exit 2 pspf-produce acct --expect-version 2
echo '{}' | expect_exit 2 pspf-produce acct -k solo --expect-version maybe

# append_loop N: 50 appends, each from a fresh read of the version. On a conflict
# the refused append's receipt says the current version: retry with it after a
# random pause that grows with the conflicts in a row (backoff with jitter, as any
# optimistic writer does, so that 16 writers do not retry in step).
append_loop() {
  local n=$1 i v rc out conflicts=0 row pause
  for ((i = 0; i < each; i++)); do
    v=$(pspf-replay acct --key hot --current-version) || return 1
    for ((row = 0; ; row++)); do
      rc=0
      out=$(pspf-produce acct -k hot --expect-version "$v" --receipts -q 2>/dev/null \
        <<<"{\"loop\":$n,\"i\":$i,\"expected\":$v}") || rc=$?
      [ "$rc" -eq 0 ] && break
      [ "$rc" -eq 3 ] || { echo "loop $n: pspf-produce exited $rc" >&2; return 1; }
      [[ $out =~ \"current_version\":(-?[0-9]+) ]] || { echo "loop $n: no version in: $out" >&2; return 1; }
      v=${BASH_REMATCH[1]}
      conflicts=$((conflicts + 1))
      printf -v pause '0.%03d' $((RANDOM % (row < 6 ? (row + 1) * 100 : 700)))
      nap "$pause"
    done
  done
  echo "$conflicts" >"conflicts.$n"
}

pids=()
for ((n = 0; n < loops; n++)); do
  append_loop "$n" &
  pids+=($!)
  BG_PIDS+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "an append loop failed"; done

pspf-replay acct --key hot >hot.jsonl
expect_eq "$(line_count hot.jsonl)" $((loops * each)) "events of the contended key"
jq -r ".expected + 1" hot.jsonl >expected
expect_same_file <(seq 0 $((loops * each - 1))) expected "expected versions in log order"
for ((n = 0; n < loops; n++)); do
  expect_eq "$(jq -r "select(.loop == $n) | .i" hot.jsonl | tr '\n' ' ')" "$(seq -s ' ' 0 $((each - 1))) " "loop $n's events in its order"
done
expect_exit 0 pspf-replay acct --key hot --current-version
expect_eq "$(cat "$OUT")" $((loops * each - 1)) "final version"
echo "conflicts retried: $(cat conflicts.* | paste -sd+ | bc)"
echo ok
