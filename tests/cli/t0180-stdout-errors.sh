#!/usr/bin/env bash
# Write errors on standard output: a closed pipe (`| head -1`) stops a command
# quietly with exit 0; any other write error (/dev/full) exits 1 with
# "<tool>: error: cannot write to standard output: ...". This holds for small
# outputs too (the last buffer flushed at exit), for --help and --version.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
[ -w /dev/full ] || skip "no /dev/full here"

seq 1 100000 | sed 's/.*/{"n":&}/' >"$T/many.jsonl"
expect_exit 0 pspf-produce big --partitions 2 -q "$T/many.jsonl"
expect_exit 0 pspf-produce one --partitions 1 -q <<<'{"n":1}'
expect_exit 0 pspf-replay big
head -1 "$OUT" >"$T/first"
[ "$(stat -c %s "$OUT")" -gt 1000000 ] || fail "the output is too small to fill a pipe"

# --- closed pipe: exit 0, nothing on stderr -----------------------------------------
set +o pipefail
pspf-replay big 2>"$T/err" | head -1 >"$T/got"
status=("${PIPESTATUS[@]}")
set -o pipefail
expect_eq "0 0" "${status[*]}" "exit status of pspf-replay | head -1"
expect_same_file "$T/first" "$T/got" "the line head printed"
expect_empty "$T/err" "stderr of pspf-replay | head -1"

set +o pipefail
pspf-replay big -J 2>"$T/err" | head -c 10 >/dev/null
status=("${PIPESTATUS[@]}")
set -o pipefail
expect_eq "0 0" "${status[*]}" "exit status of pspf-replay -J | head -c 10"
expect_empty "$T/err" "stderr of pspf-replay -J | head -c 10"

# A follower whose reader goes away stops too (it has more to write).
set +o pipefail
timeout 60 pspf-replay big -f 2>"$T/err" | head -2 >"$T/got"
status=("${PIPESTATUS[@]}")
set -o pipefail
expect_eq "0 0" "${status[*]}" "exit status of pspf-replay -f | head -2"
expect_lines 2 "$T/got" "lines of pspf-replay -f | head -2"
expect_empty "$T/err" "stderr of pspf-replay -f | head -2"

# Receipts to a closed pipe: the producer stops quietly.
set +o pipefail
pspf-produce rcpt --receipts -q "$T/many.jsonl" 2>"$T/err" | head -1 >"$T/got"
status=("${PIPESTATUS[@]}")
set -o pipefail
expect_eq "0 0" "${status[*]}" "exit status of pspf-produce --receipts | head -1"
expect_empty "$T/err" "stderr of pspf-produce --receipts | head -1"
expect_eq 0 "$(jq .offset "$T/got")" "the receipt head printed"
expect_exit 0 pspf-replay rcpt
[ "$(line_count "$OUT")" -ge 1 ] || fail "the receipted event is not in the log"

# --- /dev/full: exit 1 and an error message -----------------------------------------
full() {  # WHAT TOOL COMMAND...: COMMAND > /dev/full exits 1 with TOOL's message
  local what=$1 tool=$2 rc=0
  shift 2
  "$@" >/dev/full 2>"$T/err" || rc=$?
  expect_eq 1 "$rc" "exit status of $what > /dev/full"
  expect_contains "$T/err" "$tool: error: cannot write to standard output: No space left on device" \
    "stderr of $what > /dev/full"
}
full "replay of 100000 events" pspf-replay pspf-replay big
full "replay of one event" pspf-replay pspf-replay one
full "replay -J of one event" pspf-replay pspf-replay one -J
full "replay -c 1" pspf-replay pspf-replay big -c 1
full "topics list" pspf-topics pspf-topics list
full "topics list --json" pspf-topics pspf-topics list --json
full "topics describe" pspf-topics pspf-topics describe big
full "topics describe --json" pspf-topics pspf-topics describe one --json
full "topics verify" pspf-topics pspf-topics verify
full "topics verify --json" pspf-topics pspf-topics verify one --json
full "topics repair --dry-run" pspf-topics pspf-topics repair one --dry-run
full "produce --receipts" pspf-produce pspf-produce rcpt2 --receipts -q <<<'{"n":1}'

# --help and --version check their writes too (checked last: the checks above run
# even while this fails).
for tool in pspf-produce pspf-replay pspf-topics; do
  full "$tool --version" "$tool" "$tool" --version
  full "$tool --help" "$tool" "$tool" --help
done

echo "ok: closed pipes and full disks on standard output"
