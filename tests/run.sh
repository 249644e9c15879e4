#!/usr/bin/env bash
# Builds pspf and runs every test: unit tests (doctest), CLI tests (tests/cli/t*.sh)
# and the examples' checks. Installs missing Debian packages when run as root;
# otherwise prints the apt-get line to run and exits 2. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
top=$(pwd)

build=${PSPF_BUILD:-$top/build}
out=$(bash scripts/build.sh)
status=$?
bin=$(printf '%s\n' "$out" | tail -n 1)
if [ "$status" -eq 2 ]; then exit 2; fi
if [ "$status" -ne 0 ] || [ ! -d "$bin" ]; then
  echo "0 passed, 1 failed"
  exit 1
fi

passed=0
failed=0
failures=()
record() {  # name status [seconds]
  local took=${3:+ (${3} s)}
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1))
    echo "PASS $1$took"
  elif [ "$2" -eq 77 ]; then
    echo "SKIP $1$took"
  else
    failed=$((failed + 1))
    failures+=("$1")
    echo "FAIL $1 (exit $2)$took"
  fi
}

# Unit tests: each doctest binary counts as one test per test case.
for exe in "$build"/tests/*_test; do
  [ -x "$exe" ] || continue
  name=$(basename "$exe")
  out=$("$exe" --no-colors=true 2>&1)
  status=$?
  summary=$(printf '%s\n' "$out" | grep -E '^\[doctest\] test cases:' | tail -n 1)
  ok=$(printf '%s' "$summary" | sed -nE 's/.*\| *([0-9]+) passed.*/\1/p')
  bad=$(printf '%s' "$summary" | sed -nE 's/.*\| *([0-9]+) failed.*/\1/p')
  if [ -n "$ok" ]; then
    passed=$((passed + ok))
    failed=$((failed + ${bad:-0}))
    echo "UNIT $name: $ok passed, ${bad:-0} failed"
  fi
  if [ $status -ne 0 ]; then
    printf '%s\n' "$out" | tail -n 40
    [ -z "$bad" ] || [ "$bad" -eq 0 ] && failed=$((failed + 1))
    failures+=("$name")
  fi
done

# CLI tests and example checks: scripts that exit 0 (pass), 77 (skip) or else (fail).
# They run PSPF_TEST_JOBS at a time (default: one per core): each works in its own
# temp dir, with its own processes and, for the Kafka tests, its own mock cluster on
# ports the system picks; none measures time. Results are printed as tests end.
export PSPF_BIN="$bin"
export PATH="$bin:$PATH"
jobs=${PSPF_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || jobs=1
declare -A running=() started=()  # pid -> script, and the second it started
# Interrupted: the scripts running are stopped too (timeout passes the TERM on, and
# each script's cleanup stops what it started).
trap 'kill -TERM "${!running[@]}" 2>/dev/null; exit 130' INT TERM
cli_done() {  # waits for one script to end and records it
  local pid status t name log
  status=0
  wait -n -p pid || status=$?
  t=${running[$pid]}
  unset "running[$pid]"
  name=cli/$(basename "$t" .sh)
  log="$build/$(basename "$t" .sh).log"
  [ $status -ne 0 ] && [ $status -ne 77 ] && tail -n 30 "$log"
  record "$name" $status $((SECONDS - started[$pid]))
  unset "started[$pid]"
}
for t in "$top"/tests/cli/t[0-9]*.sh; do
  [ -f "$t" ] || continue
  while [ ${#running[@]} -ge "$jobs" ]; do cli_done; done
  timeout 300 bash "$t" >"$build/$(basename "$t" .sh).log" 2>&1 &
  running[$!]=$t started[$!]=$SECONDS
done
while [ ${#running[@]} -gt 0 ]; do cli_done; done

if [ ${#failures[@]} -gt 0 ]; then
  echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
