#!/usr/bin/env bash
# A producer with --id-field killed at each of its file-changing system calls in turn
# (strace -e inject=SYSCALL:signal=KILL:when=N, for pwrite64, fdatasync, fsync,
# ftruncate, rename(at), sync_file_range, flock, openat and write), each from the same
# starting state. After every kill: each event the killed run printed a receipt for
# is in the log; a re-run of the same command ends with every event exactly once,
# and verify finds nothing wrong. By default up to 6 points per system call, spread
# over its calls; PSPF_FULL=1 sweeps every call.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e inject=pwrite64:signal=KILL:when=1 true 2>/dev/null ||
  skip "this strace cannot inject faults"

seq 1 600 | jq -c '{id: "e\(.)", pad: "................................"}' >in.jsonl
produce() { pspf-produce t --key-field id --id-field id --receipts in.jsonl; }
base="$T/base"
PSPF_DIR=$base pspf-topics create t -P 3 >/dev/null
# One event per partition first, so the sweep starts from published durable ends.
for p in 0 1 2; do echo "{\"id\":\"seed$p\"}" | PSPF_DIR=$base pspf-produce -q t -p $p --id-field id; done

points=0
for sc in pwrite64 fdatasync fsync ftruncate rename renameat sync_file_range flock openat write; do
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
    expect_eq 603 "$(pspf-replay t | jq -r .id | sort -u | wc -l)" "$sc #$n: distinct events after the re-run"
    expect_eq 603 "$(pspf-replay t | wc -l)" "$sc #$n: events after the re-run (no duplicate)"
    expect_exit 0 pspf-topics verify t
  done
done
[ "$points" -ge 20 ] || fail "only $points kill points were swept"
echo "ok: $points kill points"
