#!/usr/bin/env bash
# Three members of one group started together with -e handle every event exactly
# once, and all exit 0, however their joins, claims, commits and releases interleave.
# 20,000 events keyed over 97 keys on 8 partitions; each run uses a fresh group, and
# runs under a CPU hog on every core, so that the members are preempted at random
# points. The race this guards (a joining member's file, not locked yet, taken for a
# dead member's and removed, so the join failed) is also pinned by a unit test that
# widens its window (group_member_test: "a member joining while another counts...").
#
# The suite runs 10 runs. The full run (200 runs, a few minutes):
#   PSPF_TRIO_RUNS=200 PSPF_BIN=$PWD/build/tools bash tests/cli/t0250-trio-race.sh
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
[ -x "$PSPF_BIN/pspf-consume" ] || skip "pspf-consume is not built"
runs=${PSPF_TRIO_RUNS:-10}
events=20000

seq 1 "$events" | awk '{printf "{\"id\":%d,\"k\":\"key-%d\"}\n", $1, $1 % 97}' >in.jsonl
expect_exit 0 pspf-produce t --key-field k --partitions 8 -q in.jsonl
seq 1 "$events" >want

# A CPU hog on each core: the members run preempted, as on a busy machine.
for _ in $(seq 1 "$(nproc)"); do bg_start yes >/dev/null; done

for run in $(seq 1 "$runs"); do
  : >m1.out; : >m2.out; : >m3.out  # a member that got no partition writes nothing
  pids=()
  for m in 1 2 3; do
    # timeout: a member that never exits is reported (status 124), not waited for forever.
    timeout 120 pspf-consume -g "trio$run" t -e --exec "cat >> m$m.out" 2>"err.$m" &
    pids+=($!)
  done
  codes=()
  for pid in "${pids[@]}"; do
    rc=0
    wait "$pid" || rc=$?
    codes+=("$rc")
  done
  cat m1.out m2.out m3.out | jq -r .id | sort -n >seen
  comm -23 <(sort want) <(sort -u seen) | sort -n >missing
  uniq -d seen >dups
  missing=$(head -n 20 missing | tr '\n' ' ')
  dups=$(head -n 20 dups | tr '\n' ' ')
  if [ "${codes[*]}" != "0 0 0" ] || [ -n "$missing" ] || [ -n "$dups" ]; then
    fail "run $run of $runs: exit statuses ${codes[*]} (want 0 0 0);" \
      "events seen $(wc -l <seen) (want $events);" \
      "missing $(wc -l <missing) (first 20: ${missing:-none}); duplicated $(wc -l <dups) (first 20: ${dups:-none});" \
      "stderr: 1: $(head -c 300 err.1) 2: $(head -c 300 err.2) 3: $(head -c 300 err.3)"
  fi
done
echo "$runs runs: every event exactly once, every member exited 0"
