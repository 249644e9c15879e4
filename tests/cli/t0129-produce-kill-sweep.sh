#!/usr/bin/env bash
# A producer with --id-field killed at each of its file-changing system calls in turn
# (strace -e inject=SYSCALL:signal=KILL:when=N, for pwrite64, fdatasync, fsync,
# ftruncate, rename(at), sync_file_range, flock, openat and write, and futex: the
# hand-overs between its threads), each from the same starting state. After every
# kill: each event the killed run printed a receipt for is in the log; a re-run of
# the same command ends with every event exactly once, and verify finds nothing
# wrong. Two inputs: 600 events (appended by one thread) and 9000 events of about
# 1.2 MB (read in one thread, appended in another: pspf/pipelined_producer.h). By
# default up to 6 points per system call, spread over its calls; PSPF_FULL=1 sweeps
# every call.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e inject=pwrite64:signal=KILL:when=1 true 2>/dev/null ||
  skip "this strace cannot inject faults"

pad=$(printf '%.0s.' $(seq 1 100))
produce() { pspf-produce t --key-field id --id-field id --receipts in.jsonl; }
base="$T/base"
PSPF_DIR=$base pspf-topics create t -P 3 >/dev/null
# One event per partition first, so the sweep starts from published durable ends.
for p in 0 1 2; do echo "{\"id\":\"seed$p\"}" | PSPF_DIR=$base pspf-produce -q t -p $p --id-field id; done

points=0
# sweep N: the sweep with an input of N events.
sweep() {
  events=$1
  seq 1 "$events" | jq -c --arg pad "$pad" '{id: "e\(.)", pad: $pad}' >in.jsonl
  # The larger input is appended by a second thread (and no sync thread starts for
  # so little): the sweep must reach the hand-overs between the two.
  rm -rf "$PSPF_DIR"
  cp -a "$base" "$PSPF_DIR"
  strace -f -o "$T/clones" -e trace=clone,clone3 pspf-produce t --key-field id --id-field id -q in.jsonl
  threads=$(grep -c "clone" "$T/clones" || true)
  expect_eq "$2" "$threads" "threads started for $events events"
  for sc in pwrite64 fdatasync fsync ftruncate rename renameat sync_file_range flock openat write futex; do
    rm -rf "$PSPF_DIR"
    cp -a "$base" "$PSPF_DIR"
    strace -f -o "$T/count" -e trace="$sc" pspf-produce t --key-field id --id-field id -q in.jsonl
    calls=$(grep -c "^[0-9]* *$sc(" "$T/count" || true)
    [ "$calls" -gt 0 ] || continue
    step=1
    [ -z "${PSPF_FULL:-}" ] && [ "$calls" -gt 6 ] && step=$(((calls + 5) / 6))
    for ((n = 1; n <= calls; n += step)); do
      rm -rf "$PSPF_DIR"
      cp -a "$base" "$PSPF_DIR"
      rc=0
      strace -f -o /dev/null -e inject="$sc":signal=KILL:when="$n" \
        pspf-produce t --key-field id --id-field id --receipts in.jsonl >k.out 2>/dev/null || rc=$?
      points=$((points + 1))
      jq -r 'select(.offset != null) | .key' k.out | sort >receipted
      pspf-replay t 2>/dev/null | jq -r .id | sort >inlog || true
      missing=$(comm -23 receipted inlog | head -n 3)
      [ -z "$missing" ] || fail "$sc #$n (exit $rc): receipted but not in the log: $missing"
      expect_exit 0 produce
      expect_eq $((events + 3)) "$(pspf-replay t | jq -r .id | sort -u | wc -l)" "$events events, $sc #$n: distinct events after the re-run"
      expect_eq $((events + 3)) "$(pspf-replay t | wc -l)" "$events events, $sc #$n: events after the re-run (no duplicate)"
      expect_exit 0 pspf-topics verify t
    done
  done
}
sweep 600 0
sweep 9000 1
[ "$points" -ge 40 ] || fail "only $points kill points were swept"
echo "ok: $points kill points"
