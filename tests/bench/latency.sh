#!/usr/bin/env bash
# End-to-end latency: from an event handed to pspf-produce (--sync none) to a
# following pspf-consume printing it. Two ways of producing:
#   stream   one long-running pspf-produce fed one line at a time through a pipe
#            (it appends as soon as its input pauses)
#   process  one pspf-produce process per event (timed from just before its start)
# Prints count, median, p90, p99 and max in milliseconds for each (a Markdown table).
# Usage: tests/bench/latency.sh [--events N] [--bin DIR] [--probe FILE]
#          [--modes "stream process"] [--pace SECONDS] [--sync none|batch|always]
# --pace is the pause between two events of the stream mode (default 0.004); --sync is
# pspf-produce's (default none).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
events=500
bin=$top/build/tools
probe=$top/build/tests/bench/latency_probe
modes="stream process"
pace=0.004
sync=none
while [ $# -gt 0 ]; do
  case $1 in
    --events) events=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --probe) probe=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --pace) pace=$2; shift 2 ;;
    --sync) sync=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "latency.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$probe" ] || { echo "latency.sh: $probe is not built (ninja -C build)" >&2; exit 2; }
export PATH="$bin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/pspf-latency.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export PSPF_DIR=$work/data
mkfifo "$work/nap"
exec {nap_fd}<>"$work/nap"
nap() { read -r -t "$1" -u "$nap_fd" _ || true; }

# measure MODE: starts a follower, waits until it has joined, produces, reports.
measure() {
  local mode=$1 topic=lat-$1 i
  pspf-topics create "$topic" -P 1 2>/dev/null
  pspf-consume -g lat "$topic" --from end > >("$probe" "$events" >"$work/$mode.out") &
  pids+=($!)
  # Joined once the group has committed its starting point.
  until pspf-offsets describe -g lat --json 2>/dev/null |
    jq -e --arg t "$topic" 'any(.[]; .topic == $t and (.current_offset // -1) >= 0)' >/dev/null; do
    nap 0.01
  done
  if [ "$mode" = stream ]; then
    for ((i = 0; i < events; i++)); do
      printf '{"t":%s}\n' "${EPOCHREALTIME/./}"
      nap "$pace"
    done | pspf-produce "$topic" -k k --sync "$sync" -q
  else
    for ((i = 0; i < events; i++)); do
      printf '{"t":%s}\n' "${EPOCHREALTIME/./}" | pspf-produce "$topic" -k k --sync "$sync" -q
      nap 0.002
    done
  fi
  # The probe writes its line once it has seen every event.
  until [ -s "$work/$mode.out" ]; do nap 0.01; done
  kill "${pids[-1]}"
  read -r n p50 p90 p99 max <"$work/$mode.out"
  awk -v m="$mode" -v n="$n" -v a="$p50" -v b="$p90" -v c="$p99" -v d="$max" \
    'BEGIN {printf "| %-8s | %6d | %8.2f | %8.2f | %8.2f | %8.2f |\n", m, n, a/1000, b/1000, c/1000, d/1000}'
}

echo "| producer | events | median ms | p90 ms | p99 ms | max ms |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in $modes; do
  case $mode in
    stream | process) measure "$mode" ;;
    *) echo "latency.sh: unknown mode $mode (stream, process)" >&2; exit 2 ;;
  esac
done
