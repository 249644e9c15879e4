# shellcheck shell=bash
# Shared helpers of the CLI tests (tests/cli/tNNNN-*.sh), sourced by each of them.
#
# Sourcing this file:
#   - sets strict mode (errexit, nounset, pipefail) and an ERR trap that names the
#     failing line, so an unexpected failure never passes silently;
#   - finds the built tools ($PSPF_BIN, else build/tools of this tree) and exits 77
#     (skip) when they or jq are missing;
#   - makes a private temp dir $T (removed on exit, background jobs started through
#     `bg_start` killed first), cds into it and points PSPF_DIR at $T/data.
#
# Output of the last `expect_exit` is in the files $OUT and $ERR.
# KEEP_T=1 keeps the temp dir for a look after a failure.
set -Eeuo pipefail

TESTS_CLI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_TOP=$(cd "$TESTS_CLI_DIR/../.." && pwd)
TEST_NAME=$(basename "$0" .sh)

: "${PSPF_BIN:=$SRC_TOP/build/tools}"
PSPF_BIN=$(cd "$PSPF_BIN" 2>/dev/null && pwd) || {
  echo "$TEST_NAME: SKIP: no build directory $PSPF_BIN" >&2
  exit 77
}
export PSPF_BIN
export PATH="$PSPF_BIN:$PATH"
for _tool in pspf-produce pspf-replay pspf-topics; do
  if [ ! -x "$PSPF_BIN/$_tool" ]; then
    echo "$TEST_NAME: SKIP: $PSPF_BIN/$_tool is not built" >&2
    exit 77
  fi
done
command -v jq >/dev/null || { echo "$TEST_NAME: SKIP: jq is not installed" >&2; exit 77; }
export LC_ALL=C.UTF-8

# fail MESSAGE...: report a failed assertion (with the line that made it) and stop.
fail() {
  echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: $*" >&2
  exit 1
}

# skip MESSAGE...: the test cannot run here.
skip() {
  echo "SKIP: $TEST_NAME: $*" >&2
  exit 77
}

trap 'echo "FAIL: $TEST_NAME:$LINENO: command exited $?: $BASH_COMMAND" >&2' ERR

BG_PIDS=()
T=$(mktemp -d "${TMPDIR:-/tmp}/pspf-$TEST_NAME.XXXXXX")
_cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
  done
  for pid in "${BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP_T:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap _cleanup EXIT
export PSPF_DIR="$T/data"
cd "$T"
OUT="$T/.out"
ERR="$T/.err"

# bg_start CMD...: runs CMD in the background (stdin from /dev/null unless
# redirected by the caller around the call), records its pid in BG_PID and makes
# the cleanup kill it if it is still running.
bg_start() {
  "$@" &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
}

# expect_exit CODE CMD...: runs CMD (stdin inherited) with stdout in $OUT and stderr
# in $ERR; fails unless it exits with CODE.
expect_exit() {
  local want=$1 rc=0
  shift
  "$@" >"$OUT" 2>"$ERR" || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "--- stdout of: $*" >&2
    head -c 2000 "$OUT" >&2
    echo "--- stderr:" >&2
    head -c 2000 "$ERR" >&2
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: expected exit $want, got $rc from: $*" >&2
    exit 1
  fi
}

# expect_eq EXPECTED ACTUAL WHAT: string equality.
expect_eq() {
  if [ "$1" != "$2" ]; then
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: $3: expected [$1], got [$2]" >&2
    exit 1
  fi
}

# expect_contains FILE STRING [WHAT]: FILE contains STRING (fixed string).
expect_contains() {
  if ! grep -qF -- "$2" "$1"; then
    echo "--- $1:" >&2
    head -c 2000 "$1" >&2
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: ${3:-output}: does not contain [$2]" >&2
    exit 1
  fi
}

# expect_not_contains FILE STRING [WHAT]: FILE does not contain STRING.
expect_not_contains() {
  if grep -qF -- "$2" "$1"; then
    echo "--- $1:" >&2
    head -c 2000 "$1" >&2
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: ${3:-output}: contains [$2]" >&2
    exit 1
  fi
}

# expect_empty FILE [WHAT]
expect_empty() {
  if [ -s "$1" ]; then
    echo "--- $1:" >&2
    head -c 2000 "$1" >&2
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: ${2:-$1}: expected to be empty" >&2
    exit 1
  fi
}

# expect_same_file EXPECTED ACTUAL WHAT: byte-identical files (shows a diff if not).
expect_same_file() {
  if ! cmp -s "$1" "$2"; then
    diff "$1" "$2" | cut -c1-300 | head -n 20 >&2 || true
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: $3: $2 differs from $1" >&2
    exit 1
  fi
}

# line_count FILE: number of lines (newline characters) in FILE.
line_count() {
  wc -l <"$1" | tr -d ' '
}

# expect_lines N FILE WHAT: FILE has exactly N lines.
expect_lines() {
  local n
  n=$(line_count "$2")
  if [ "$n" != "$1" ]; then
    head -c 2000 "$2" >&2
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: $3: expected $1 lines, got $n" >&2
    exit 1
  fi
}

# nap SECONDS: a pause without starting a process (reads a FIFO nobody writes).
mkfifo "$T/.nap"
exec {NAP_FD}<>"$T/.nap"
nap() {
  read -r -t "$1" -u "$NAP_FD" _ || true
}

# wait_until SECONDS WHAT CMD...: polls CMD until it succeeds; fails after SECONDS.
# This awaits a condition: the short pause between polls only saves CPU.
wait_until() {
  local limit=$1 what=$2 deadline
  shift 2
  deadline=$((${EPOCHREALTIME/./} + limit * 1000000))
  until "$@"; do
    if [ "${EPOCHREALTIME/./}" -gt "$deadline" ]; then
      echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: timed out after ${limit}s waiting for: $what" >&2
      exit 1
    fi
    nap 0.005
  done
}

# lines_in FILE: number of lines in a small FILE (a last line without newline
# counts), without starting a process.
lines_in() {
  local -a l
  mapfile -t l <"$1"
  echo "${#l[@]}"
}

# has_lines FILE N: FILE has at least N lines (no process, no subshell: cheap enough
# to poll).
has_lines() {
  local -a l
  mapfile -t l <"$1"
  [ "${#l[@]}" -ge "$2" ]
}

# now_ms: wall clock in milliseconds.
now_ms() {
  local us=${EPOCHREALTIME/./}
  echo $((us / 1000))
}

# wait_clock_past MS: waits until the wall clock has passed MS (a condition).
wait_clock_past() {
  wait_until 5 "the clock to pass $1" _clock_past "$1"
}
_clock_past() { [ "$(now_ms)" -gt "$1" ]; }

# group_owners GROUP: "partition pid" lines of the group's live owners, from
# pspf-offsets describe.
group_owners() {
  pspf-offsets describe -g "$1" --json | jq -r '.[] | select(.owner != null) | "\(.partition) \(.owner.pid)"'
}

# group_balanced GROUP PARTITIONS MEMBERS: every partition has a live owner, MEMBERS
# members own them, none more than ceil(PARTITIONS/MEMBERS).
group_balanced() {
  local o share=$((($2 + $3 - 1) / $3))
  o=$(group_owners "$1") || return 1
  [ "$(printf '%s\n' "$o" | grep -c .)" -eq "$2" ] || return 1
  [ "$(printf '%s\n' "$o" | awk '{print $2}' | sort -u | wc -l)" -eq "$3" ] || return 1
  ! printf '%s\n' "$o" | awk -v share="$share" '{n[$2]++} END {for (p in n) if (n[p] > share) exit 0; exit 1}'
}

# mount_tmpfs SIZE: mounts a tmpfs of SIZE (as mount's size=) at $T/mnt, unmounted
# before the cleanup, and points PSPF_DIR into it. Skips (exit 77) unless root and
# the mount works.
mount_tmpfs() {
  [ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"
  mkdir "$T/mnt"
  mount -t tmpfs -o size="$1" tmpfs "$T/mnt" 2>/dev/null || skip "cannot mount a tmpfs here"
  trap 'umount -l "$T/mnt" 2>/dev/null || true; _cleanup' EXIT
  export PSPF_DIR="$T/mnt/data"
}

# segment_path TOPIC PARTITION [BASE] [EXT]: path of a segment file.
segment_path() {
  printf '%s/topics/%s/%s/%020d%s\n' "$PSPF_DIR" "$1" "$2" "${3:-0}" "${4:-.log}"
}

# u32_at FILE POS / i64_at FILE POS: little-endian integers read from a file.
u32_at() {
  od -An -v -t u4 --endian=little -j "$2" -N 4 "$1" | tr -d ' \n'
}
i64_at() {
  od -An -v -t d8 --endian=little -j "$2" -N 8 "$1" | tr -d ' \n'
}

# batch_positions SEGMENT: the byte position of every complete batch, one a line
# (walks the u32 length at byte 4 of each 56-byte batch header).
batch_positions() {
  local f=$1 pos=0 size len
  size=$(stat -c %s "$f")
  while [ $((pos + 56)) -le "$size" ]; do
    len=$(u32_at "$f" $((pos + 4)))
    if [ "$len" -lt 56 ] || [ $((pos + len)) -gt "$size" ]; then break; fi
    echo "$pos"
    pos=$((pos + len))
  done
}

# write_bytes FILE POS HEX...: overwrites bytes at POS (hex pairs, e.g. ff 00).
write_bytes() {
  local f=$1 pos=$2 esc=""
  shift 2
  local b
  for b in "$@"; do esc+="\\x$b"; done
  # shellcheck disable=SC2059  # the format is built from hex pairs only
  printf "$esc" | dd of="$f" bs=1 seek="$pos" conv=notrunc status=none
}

# flip_byte FILE POS: inverts every bit of the byte at POS.
flip_byte() {
  local old
  old=$(od -An -v -t u1 -j "$2" -N 1 "$1" | tr -d ' \n')
  [ -n "$old" ] || fail "flip_byte: $1 has no byte $2"
  write_bytes "$1" "$2" "$(printf '%02x' $((old ^ 255)))"
}

# put_u32 FILE POS VALUE: overwrites a little-endian u32.
put_u32() {
  local v=$3
  write_bytes "$1" "$2" "$(printf '%02x' $((v & 255)))" "$(printf '%02x' $(((v >> 8) & 255)))" \
    "$(printf '%02x' $(((v >> 16) & 255)))" "$(printf '%02x' $(((v >> 24) & 255)))"
}

# put_i64 FILE POS VALUE: overwrites a little-endian i64.
put_i64() {
  local v=$3 i hex=()
  for i in 0 1 2 3 4 5 6 7; do hex+=("$(printf '%02x' $(((v >> (8 * i)) & 255)))"); done
  write_bytes "$1" "$2" "${hex[@]}"
}

# unpublished TOPIC PARTITION CMD...: runs CMD (an append to that partition), then
# puts the partition's durable end back as it was before: what a writer killed
# between its write and its sync leaves (durable_end.h, 2). What CMD appended is then
# not acknowledged, and a test may tear it as such a kill would.
unpublished() {
  local lock="$PSPF_DIR/topics/$1/$2/lock"
  shift 2
  [ -f "$lock" ] || fail "unpublished: no lock file $lock"
  head -c 24 "$lock" >"$T/.mark"
  "$@" || fail "unpublished: command failed: $*"
  dd if="$T/.mark" of="$lock" conv=notrunc status=none
}

# tree_digest DIR: a digest of every file's path and content under DIR.
tree_digest() {
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) | sha256sum
}

# fault_sweep "SYSCALLS" PREPARE CHECK CMD...: kills CMD, and fails it with EIO, at
# each of its calls of each syscall in SYSCALLS in turn. For each syscall, PREPARE
# (a function) sets the scene and strace counts CMD's calls; then, for each call N
# and each fault, PREPARE runs again, CMD runs with that fault at call N (its output
# in $T/fault.out and $T/fault.err), and CHECK RC WHAT (a function) judges what it
# left: RC is CMD's exit
# status, WHAT names the point ("error=EIO at fsync #3"). Sets SWEPT to the number of
# points. Skips the test when strace cannot inject faults.
fault_sweep() {
  local syscalls=$1 prepare=$2 check=$3 sc n calls inject rc
  shift 3
  command -v strace >/dev/null || skip "strace is not installed"
  strace -f -o /dev/null -e inject=fsync:signal=KILL:when=1 true 2>/dev/null ||
    skip "this strace cannot inject faults"
  SWEPT=0
  for sc in $syscalls; do
    "$prepare"
    strace -f -o "$T/.count" -e trace="$sc" "$@" >/dev/null 2>&1 || fail "counting $sc: $* failed"
    calls=$(grep -c "^[0-9]* *$sc(" "$T/.count" || true)
    for ((n = 1; n <= calls; n++)); do
      for inject in signal=KILL error=EIO; do
        "$prepare"
        rc=0
        # (in a subshell, so that bash's "Killed" goes to /dev/null)
        (strace -f -o /dev/null -e inject="$sc:$inject:when=$n" "$@" >"$T/fault.out" \
          2>"$T/fault.err" || exit $?) 2>/dev/null || rc=$?
        "$check" "$rc" "$inject at $sc #$n"
        SWEPT=$((SWEPT + 1))
      done
    done
  done
}
