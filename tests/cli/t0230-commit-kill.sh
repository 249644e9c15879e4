#!/usr/bin/env bash
# SIGKILL of a member in the middle of committing (one commit per event), at 30
# random instants: the commit file always reads back (pspf-offsets describe exits 0)
# as a valid earlier or later commit: offsets never go backwards and never past the
# log end, and the next member carries on from them.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done
RANDOM=77

seq 1 1500 | awk '{printf "{\"id\":%d}\n", $1}' | pspf-produce t -k same --partitions 1 -q
: >ticks
last=-1
for round in $(seq 1 30); do
  target=$(($(line_count ticks) + 1 + RANDOM % 20))
  bg_start pspf-consume -g g t --batch 1 --batch-ms 0 --exec 'cat >/dev/null; echo >>ticks'
  grown() { [ "$(lines_in ticks)" -ge "$target" ] || ! kill -0 "$BG_PID" 2>/dev/null; }
  wait_until 20 "round $round: commits to happen" grown
  kill -9 "$BG_PID" 2>/dev/null || true
  wait "$BG_PID" 2>/dev/null || true
  expect_exit 0 pspf-offsets describe -g g --json
  now=$(jq -r '.[0].current_offset' "$OUT")
  [ "$now" -ge "$last" ] || fail "round $round: committed offset went back from $last to $now"
  [ "$now" -le 1500 ] || fail "round $round: committed offset $now is past the log end"
  last=$now
done
expect_exit 0 pspf-consume -g g t -e --exec 'cat >/dev/null'
expect_exit 0 pspf-offsets describe -g g --json
expect_eq 1500 "$(jq -r '.[0].current_offset' "$OUT")" "final committed offset"
echo ok
