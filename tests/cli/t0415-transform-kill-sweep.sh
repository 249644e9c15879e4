#!/usr/bin/env bash
# Exactly-once consume-transform-produce without --out-key-field, at every crash
# point. The output events have no key, only derived ids, so they are routed by
# the id's hash: a re-run after a crash sends each id to the partition of its
# earlier copy, where deduplication meets it. 60 keyed events in a 3-partition
# source; `pspf-consume --exec cat --to out --batch 5 -e` (OUT: 3 partitions) is
# SIGKILLed at its N-th pwrite64 (strace fault injection: memory file of a batch,
# announce, append to OUT, commit), for every N until a run is not killed, each
# time from the same starting state and followed by a clean run to the end; then
# OUT holds exactly 60 events with exactly the expected derived ids.
# A run has about 90 crash points and each costs two runs of the consumer (about
# 5 s on a loaded 2-core machine), so by default points 1, 7, 13, ... are swept (a
# step of 6 lands on every position of the ~7 writes of one batch in turn);
# PSPF_FULL=1 sweeps every point.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
[ -x "$PSPF_BIN/pspf-consume" ] || skip "pspf-consume is not built"
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e inject=pwrite64:signal=KILL:when=1000 true 2>/dev/null ||
  skip "strace cannot inject faults here (no ptrace?)"

seq 1 60 | awk '{printf "{\"n\":%d,\"k\":\"k%d\"}\n", $1, $1}' >in.jsonl
expect_exit 0 pspf-produce src --key-field k --partitions 3 -q in.jsonl
expect_exit 0 pspf-topics create out -P 3
cp -a "$PSPF_DIR" start

# The ids a complete run derives: batches of 5 from offset 0 in each partition,
# the last one shorter, one output line per input event.
pspf-replay src -J | jq -r .partition | sort | uniq -c | while read -r count p; do
  for ((first = 0; first < count; first += 5)); do
    last=$((first + 4 < count - 1 ? first + 4 : count - 1))
    for ((i = 0; i <= last - first; i++)); do echo "g/src/$p/$first-$last/$i"; done
  done
done | sort >want.ids
expect_lines 60 want.ids "expected derived ids"

consume() { pspf-consume -g g src --exec cat --to out --batch 5 -e; }

# check N: after the kill at point N and a clean run, OUT is exactly the input.
check() {
  pspf-replay out -J >out.json
  jq -r .id out.json | sort >got.ids
  expect_same_file want.ids got.ids "point $1: the derived ids in OUT"
  jq -r .value.n out.json | sort -n >got.ns
  expect_same_file <(seq 1 60) got.ns "point $1: the events in OUT"
  pspf-offsets describe -g g --json | jq -e 'all(.[]; .lag == 0)' >/dev/null ||
    fail "point $1: lag left after the clean run"
}

killed=0
n=0
while :; do
  if [ -n "${PSPF_FULL:-}" ] || [ "$n" -eq 0 ]; then n=$((n + 1)); else n=$((n + 6)); fi
  [ "$n" -lt 1000 ] || fail "still killed at point $n"
  rm -rf "$PSPF_DIR"
  cp -a start "$PSPF_DIR"
  rc=0
  # (in a shell of its own, whose "Killed" report goes to consume.err)
  bash -c '"$@"; exit $?' - strace -f -o /dev/null -e inject=pwrite64:signal=KILL:when="$n" \
    pspf-consume -g g src --exec cat --to out --batch 5 -e >/dev/null 2>>consume.err || rc=$?
  if [ "$rc" -eq 0 ]; then
    check "$n (not killed)"
    break
  fi
  [ "$rc" -eq 137 ] || fail "point $n: the consumer exited $rc, not killed: $(tail -n 2 consume.err)"
  killed=$((killed + 1))
  expect_exit 0 consume
  check "$n"
done
[ "$killed" -ge 10 ] || fail "only $killed crash points: the sweep did not reach the appends"
echo "$killed crash points, then a run that was not killed (point $n)"
echo ok
