#!/usr/bin/env bash
# A producer appends and a consumer group reads throughout repeated compactions (each
# closing the active segment with --roll, so every compaction has fresh data to
# rewrite). One event in three has a key of its own (compaction never removes it),
# the others update 10 table keys. Checked: the consumer never got an offset twice or
# out of order; every event with a key of its own arrived exactly once; the last
# value of every table key arrived (also for a group that starts after the
# compactions, reading the gaps with -e); the group's committed offsets are at the end
# (lag 0), and a new run of the group reads nothing again; the topic verifies.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

chunks=${PSPF_LIVE_CHUNKS:-60}
per=25
expect_exit 0 pspf-topics create live -P 2 --segment-bytes 4096 --cleanup compact

producer() {
  local c i s
  for ((c = 0; c < chunks; c++)); do
    for ((i = 0; i < per; i++)); do
      s=$((c * per + i))
      if ((s % 3 == 0)); then printf '{"k":"u%d","seq":%d}\n' "$s" "$s"
      else printf '{"k":"t%d","seq":%d}\n' $((s % 10)) "$s"; fi
    done | pspf-produce live --key-field k -q || return 1
  done
  touch produced
}
bg_start producer
producer_pid=$BG_PID
bg_start pspf-consume live -g g -J >consumed 2>consume.err
consumer_pid=$BG_PID

runs=0
while [ ! -e produced ]; do
  kill -0 "$producer_pid" 2>/dev/null || { wait "$producer_pid" || true; [ -e produced ] || fail "the producer failed"; }
  pspf-compact live --roll -q || fail "pspf-compact failed during appends (run $runs)"
  runs=$((runs + 1))
done
wait "$producer_pid"
expect_exit 0 pspf-compact live --roll
[ "$runs" -ge 3 ] || fail "only $runs compactions ran while the producer was appending"
total=$((chunks * per))

# Wait for the consumer to reach the end and commit it: lag 0 on both partitions.
lag_zero() {
  pspf-offsets describe -g g --json >lag.json 2>/dev/null &&
    [ "$(jq '[.[] | select(.topic == "live") | .lag] | (length == 2 and all(. == 0))' lag.json)" = true ]
}
wait_until 60 "the group to have lag 0" lag_zero
kill -TERM "$consumer_pid"
rc=0
wait "$consumer_pid" || rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 143 ] || { cat consume.err >&2; fail "consumer exited $rc"; }

# A group that starts only now reads the compacted log, gaps and all, to its end (-e).
expect_exit 0 pspf-consume live -g late -J -e
cp "$OUT" late
[ "$(line_count late)" -lt "$total" ] || fail "the late group read everything: nothing was compacted"

check() {  # FILE: no duplicates or disorder, every own-key event, every table key's last value
jq -r '"\(.partition) \(.offset) \(.key) \(.value.seq)"' "$1" >table
awk '
  { if (($1 SUBSEP $2) in seen) { print "offset " $1 "/" $2 " delivered twice"; bad = 1 }
    seen[$1, $2] = 1
    if (($1 in last) && $2 <= last[$1]) { print "partition " $1 ": offset " $2 " after " last[$1]; bad = 1 }
    last[$1] = $2 }
  END { exit bad }' table >problems || { head problems >&2; fail "duplicates or disorder in what was consumed"; }
# Every event with its own key, exactly once.
expect_eq "$(((total + 2) / 3))" "$(awk '$3 ~ /^u/' table | wc -l | tr -d ' ')" "events with their own key"
expect_eq "$(((total + 2) / 3))" "$(awk '$3 ~ /^u/ { print $3 }' table | sort -u | wc -l | tr -d ' ')" "distinct own-key events"
# The last value of every table key.
for ((k = 0; k < 10; k++)); do
  for ((s = total - 1; s % 10 != k || s % 3 == 0; s--)); do :; done
  grep -q " t$k $s\$" table || fail "the last value of t$k (seq $s) was not delivered"
done
}
check consumed
check late
# The offsets are valid: a new run of the group has nothing to read.
expect_exit 0 pspf-consume live -g g -e
expect_empty "$OUT" "a second run of the group"
expect_exit 0 pspf-consume live -g late -e
expect_empty "$OUT" "a second run of the late group"
expect_exit 0 pspf-topics verify live
echo "ok: $total events, $runs compactions during appends, $(line_count consumed) consumed live, $(line_count late) by the late group"
