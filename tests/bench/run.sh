#!/usr/bin/env bash
# pspf and its peers in one run, on the same data: ingest, read-out, one process per
# event, end-to-end latency, peak RSS and bytes on disk per event, for pspf, the
# physical floor (cat, dd, /bin/echo), SQLite (sqlite3 CLI and the C API), Redis
# Streams and NATS JetStream, each with its durability stated; and pspf's Kafka backend
# (-b) next to kcat on librdkafka's mock cluster. Writes bench-results.md
# (a Markdown table with pspf's ratio to the best peer and to the floor) and
# bench-results.png (gnuplot) into --out DIR. See tests/bench/README.md.
# Functions called by name through measure_*() look unused to shellcheck.
# shellcheck disable=SC2317
set -u -o pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: tests/bench/run.sh [OPTIONS]

Runs pspf and its peers (cat/dd, sqlite3 and SQLite's C API, Redis Streams, NATS
JetStream) on the same N inventory-like events and writes bench-results.md and
bench-results.png into the output folder. Each figure is the median of --runs runs,
with the min and max. Servers listen on 127.0.0.1 only, on free ports, keep their data
in the work folder and are stopped by their pid (also on Ctrl-C).

The Kafka rows run pspf -b and kcat against librdkafka's mock cluster
(build/tests/pspf-mock-kafka, in memory): they compare clients, not Kafka. They
ingest the N events and read out at most 100,000 (what the mock keeps).

Options:
  --out DIR             where bench-results.md/.png go (default: the repository root)
  --quick               100,000 events, 100 single events, 1,000 latency events, 1 run
                        (Redis AOF always: 10,000 events instead of 100,000)
  --events N            events for ingest and read-out (default 1000000)
  --singles N           events for the one-process-per-event rows (default 1000)
  --latency-events N    events for the latency rows (default 10000)
  --runs N              runs per figure (default 3)
  --bin DIR             pspf tools (default: build/tools of this repository)
  --work DIR            work folder, kept afterwards (default: a temporary folder,
                        removed at the end); the events generated there are reused
  --no-apt              do not apt-get install missing peers (root only anyway)
  --no-install          neither apt-get nor npm: use what is installed, skip the rest
  -h, --help            this help

Exit status: 0 done (a peer that cannot be had is a "skipped" row), 1 a command failed
or an output was wrong (a Kafka row then reads FAILED, after the report is written),
2 usage error.
EOF
}

note() { printf 'run.sh: %s\n' "$*" >&2; }
die() {
  printf 'run.sh: FAILED: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'run.sh: %s (see --help)\n' "$*" >&2
  exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

events=1000000
singles=1000
lat_events=10000
runs=3
out_dir=$repo
bin="$repo/build/tools"
work=""
apt=1
npm_ok=1
# AOF appendfsync always runs at the disk's fsync pace: it gets the first events only.
always_events=100000

while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    --*=*)
      set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
      continue
      ;;
    --out | --events | --singles | --latency-events | --runs | --bin | --work)
      [ $# -ge 2 ] || usage_error "$opt needs a value"
      case $opt in
        --out) out_dir=$2 ;;
        --events) events=$2 ;;
        --singles) singles=$2 ;;
        --latency-events) lat_events=$2 ;;
        --runs) runs=$2 ;;
        --bin) bin=$2 ;;
        --work) work=$2 ;;
      esac
      shift 2
      ;;
    --quick) events=100000 singles=100 lat_events=1000 runs=1 always_events=10000 && shift ;;
    --no-apt) apt=0 && shift ;;
    --no-install) apt=0 npm_ok=0 && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown argument: $opt" ;;
  esac
done
for v in events singles lat_events; do
  [[ ${!v} =~ ^[1-9][0-9]{0,8}$ ]] || usage_error "--${v//_/-} wants a whole number from 1, not '${!v}'"
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || usage_error "--runs wants a whole number from 1 to 99, not '$runs'"
[ "$singles" -le "$events" ] || usage_error "--singles must not exceed --events"
[ "$always_events" -le "$events" ] || always_events=$events
for t in pspf-produce pspf-replay pspf-consume pspf-topics pspf-offsets; do
  [ -x "$bin/$t" ] || usage_error "$bin/$t not found: build first (bash scripts/build.sh) or give --bin DIR"
done
bin=$(cd "$bin" && pwd)
mkdir -p -- "$out_dir" || die "cannot create $out_dir"
out_dir=$(cd "$out_dir" && pwd)

# ---------------------------------------------------------------- work folder, servers
tmp=""
server_pids=()
stop_server() { # PID: stop one server this script started, and wait for it
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  local keep=() p
  for p in "${server_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  server_pids=("${keep[@]}")
}
cleanup() {
  local p
  for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -z "$tmp" ] || rm -rf -- "$tmp"
}
server_pids=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "$work" ]; then
  mkdir -p -- "$work" || die "cannot create $work"
  W=$(cd "$work" && pwd)
else
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/pspf-run.XXXXXX") || die "cannot create a temporary folder"
  W=$tmp
fi
started=$EPOCHREALTIME # for the report

# ---------------------------------------------------------------- peers: install
if [ "$apt" = 1 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  want=()
  # command (or file) : the Debian package that brings it
  for pair in /usr/bin/time:time sqlite3:sqlite3 /usr/include/sqlite3.h:libsqlite3-dev \
    redis-server:redis-server nats-server:nats-server node:nodejs npm:npm gnuplot:gnuplot-nox \
    kcat:kcat; do
    what=${pair%%:*}
    if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
    want+=("${pair#*:}")
  done
  if [ ${#want[@]} -gt 0 ]; then
    note "installing ${want[*]} (apt-get)"
    # Debian's redis-server starts its own service where there is an init system;
    # this script never uses it (its servers are private, on free ports).
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" </dev/null >"$W/apt.log" 2>&1 ||
      { apt-get update -qq </dev/null >>"$W/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" </dev/null >>"$W/apt.log" 2>&1; }; then
      :
    else
      note "apt-get install failed (log: $W/apt.log); what is missing is skipped"
    fi
  fi
fi
npm_dir="$W/npm"
have_nats_js=0
if command -v node >/dev/null; then
  if [ -f "$npm_dir/node_modules/nats/package.json" ]; then
    have_nats_js=1
  elif [ "$npm_ok" = 1 ] && command -v npm >/dev/null; then
    note "npm install nats@2 into $npm_dir"
    mkdir -p -- "$npm_dir"
    if npm install --prefix "$npm_dir" --no-audit --no-fund --silent nats@2 </dev/null >"$W/npm.log" 2>&1; then
      have_nats_js=1
    else
      note "npm install nats failed (log: $W/npm.log): NATS is skipped"
    fi
  fi
fi
export BENCH_NPM=$npm_dir

have_time=0
if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then have_time=1; fi

# The SQLite C program: meson builds it beside latency_probe when libsqlite3-dev is
# found; otherwise compile it here.
probe="$bin/../tests/bench/latency_probe"
sqlite_bench="$bin/../tests/bench/sqlite_bench"
if [ ! -x "$sqlite_bench" ]; then
  sqlite_bench="$W/sqlite_bench"
  if [ ! -x "$sqlite_bench" ] && command -v cc >/dev/null; then
    cc -O2 -o "$sqlite_bench" "$here/sqlite_bench.c" -lsqlite3 2>"$W/cc.log" || rm -f -- "$sqlite_bench"
  fi
fi

# ---------------------------------------------------------------- the events
ev="$W/events.jsonl"
if [ ! -s "$ev" ] || [ "$(wc -l <"$ev")" -ne "$events" ]; then
  note "generating $events events"
  bench_gen_events "$events" "$ev" || die "cannot write $ev"
  rm -f -- "$ev.sorted" "$ev.resp"
fi
[ -s "$ev.sorted" ] || sort -S 25% -T "$W" -- "$ev" >"$ev.sorted" || die "cannot sort $ev"
ev_bytes=$(wc -c <"$ev")
singles_file="$W/singles.jsonl"
head -n "$singles" -- "$ev" >"$singles_file"
ev_always="$W/events-always.jsonl"
head -n "$always_events" -- "$ev" >"$ev_always"

# ---------------------------------------------------------------- measuring
# results.tsv, one line a row: op, kind (pspf|floor|peer), label, durability, values
# (one per run, comma-separated) or "skip:REASON".
results="$W/results.tsv"
: >"$results"
record() { # OP KIND LABEL DURABILITY VALUES: "skip:WHY", "fail:WHY" or N1,N2,... (a run each)
  [[ $5 =~ ^(skip:|fail:) || $5 =~ ^[0-9.e+-]+(,[0-9.e+-]+)*$ ]] ||
    die "internal: row '$3' ($1): values '$5' are not a comma-joined list of numbers"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$results"
}
skip_rows() { # KIND LABEL DURABILITY REASON OP...
  local kind=$1 label=$2 dur=$3 reason=$4 op
  shift 4
  for op in "$@"; do record "$op" "$kind" "$label" "$dur" "skip:$reason"; done
}
sync_fs() { sync -f -- "$W" 2>/dev/null || sync; }
no_op() { :; }
dir_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6g", a / b }'; }
append() { # VAR VALUE: comma-joined list
  local -n list=$1
  list="${list:+$list,}$2"
}

us=0
rss_kib=""
# timed IN OUT CMD...: runs CMD once; us = wall time in microseconds, rss_kib = its
# peak RSS (KiB) when /usr/bin/time is there and CMD is not a shell function.
# Returns CMD's status.
timed() {
  local in=$1 out=$2 t0 t1 rc
  shift 2
  rss_kib=""
  t0=$EPOCHREALTIME
  if [ "$have_time" = 1 ] && ! declare -F -- "$1" >/dev/null; then
    /usr/bin/time -f %M -o "$W/rss" "$@" <"$in" >"$out" 2>"$W/step.err"
    rc=$?
    rss_kib=$(tail -n 1 "$W/rss")
    [[ $rss_kib =~ ^[0-9]+$ ]] || rss_kib=""
  else
    "$@" <"$in" >"$out" 2>"$W/step.err"
    rc=$?
  fi
  t1=$EPOCHREALTIME
  us=$((${t1/./} - ${t0/./}))
  if [ "$rc" -ne 0 ]; then cat -- "$W/step.err" >&2; fi
  return "$rc"
}

# Hooks of measure_ingest, set by the caller: SETUP before each run (untimed), CHECK
# after it (dies on wrong contents), SIZE prints the bytes stored, RSS prints the peak
# RSS in KiB of a server (empty: the command's own).
ING_SETUP=no_op ING_CHECK=no_op ING_SIZE="" ING_RSS=""
# measure_ingest KIND LABEL DURABILITY COUNT INPUT CMD...: rows ingest, rss, bytes.
measure_ingest() {
  local kind=$1 label=$2 dur=$3 n=$4 in=$5 i rates="" rsss="" sizes=""
  shift 5
  for ((i = 1; i <= runs; i++)); do
    "$ING_SETUP"
    sync_fs
    timed "$in" "$W/ingest.out" "$@" || die "$label: '$*' exited $?"
    "$ING_CHECK"
    append rates "$(div "$((n * 1000000))" "$us")"
    [ -z "$ING_RSS" ] || rss_kib=$("$ING_RSS")
    [ -z "$rss_kib" ] || append rsss "$(div "$rss_kib" 1024)"
    [ -z "$ING_SIZE" ] || append sizes "$(div "$("$ING_SIZE")" "$n")"
    note "  $label, run $i: $(div "$us" 1e6) s${rss_kib:+, $((rss_kib / 1024)) MiB}"
  done
  record ingest "$kind" "$label" "$dur" "$rates"
  record rss "$kind" "$label" "$dur" "${rsss:-skip:/usr/bin/time missing}"
  [ -z "$ING_SIZE" ] || record bytes "$kind" "$label" "$dur" "$sizes"
  ING_SETUP=no_op ING_CHECK=no_op ING_SIZE="" ING_RSS=""
}

# read_row KIND LABEL DURABILITY CHECK CMD...: queues a read-out row; run_read_rows
# runs the rows queued. CMD's stdout goes to a file of its row, CHECK (a function:
# FILE RUN) is called after each run.
# - Run 0 is a warm-up, checked but not recorded: after the phase before (an ingest,
#   or a check's sort of a whole output) the first run of every reader was up to 2x
#   slower than the next two (cat 0.087 s against 0.046 and 0.039 s, pspf-replay
#   0.20 s against 0.116 and 0.114 s, SQLite's C API 0.51 s against 0.31 and 0.30 s).
# - The rows run in turn: run 1 of each, then run 2 of each... A disturbance of some
#   seconds (pspf-replay's runs 1 and 2 just after the ingests took 0.19 and 0.17 s,
#   run 3 0.115 s, and the --no-merge row after it 0.118, 0.117 and 0.126 s) then
#   slows one run of several rows, not the median of one.
# - The last runs are checked after all of them: a check that sorts a whole output
#   would otherwise be such a disturbance for the next row.
# row_command NAME CMD...: defines the function NAME, which runs CMD with its words as
# given. Rows queued to run in turn keep their commands so: bash has no array of arrays
# for their words, and a function is called without parsing anything again.
row_command() {
  local fn=$1
  shift
  eval "$fn() { $(printf '%q ' "$@"); }"
}
rr_kind=() rr_label=() rr_dur=() rr_check=() rr_cmd=()
read_row() {
  local fn="read_row_${#rr_label[@]}"
  rr_kind+=("$1") rr_label+=("$2") rr_dur+=("$3") rr_check+=("$4") rr_cmd+=("$fn")
  shift 4
  row_command "$fn" "$@"  # timed runs a function as it is
}
run_read_rows() {
  local i k out rates=()
  for ((i = 0; i <= runs; i++)); do
    for k in "${!rr_label[@]}"; do
      out="$W/read.out.$k"
      rm -f -- "$out"
      sync_fs
      timed /dev/null "$out" "${rr_cmd[k]}" || die "${rr_label[k]}: '$(declare -f "${rr_cmd[k]}" | sed -n 3p)' exited $?"
      [ "$i" -eq "$runs" ] || "${rr_check[k]}" "$out" "$i"
      [ "$i" -gt 0 ] || continue
      rates[k]+="${rates[k]:+,}$(div "$((events * 1000000))" "$us")"
      note "  ${rr_label[k]}, run $i: $(div "$us" 1e6) s"
    done
  done
  for k in "${!rr_label[@]}"; do
    "${rr_check[k]}" "$W/read.out.$k" "$runs"
    rm -f -- "$W/read.out.$k"
    record readout "${rr_kind[k]}" "${rr_label[k]}" "${rr_dur[k]}" "${rates[k]}"
  done
  rr_kind=() rr_label=() rr_dur=() rr_check=() rr_cmd=()
}
# measure_read KIND LABEL DURABILITY CHECK CMD...: one read-out row alone.
measure_read() {
  read_row "$@"
  run_read_rows
}
same_bytes() { cmp -s -- "$1" "$ev" || die "read-out: $1 differs from the input"; }
# The same multiset of lines as the input, and each key's events in input order.
same_events() {
  local n
  n=$(wc -l <"$1")
  [ "$n" -eq "$events" ] || die "read-out: $n lines, expected $events"
  [ "$2" -eq "$runs" ] || return 0
  sort -S 25% -T "$W" -- "$1" | cmp -s - "$ev.sorted" || die "read-out: $1 holds other lines than the input"
  awk '{
      match($0, /"item":[{]"id":"[^"]*"/); k = substr($0, RSTART + 14, RLENGTH - 15)
      match($0, /"event_id":"e-[0-9]+"/); e = substr($0, RSTART + 14, RLENGTH - 15) + 0
      if (e <= last[k]) { print "key " k ": e-" e " after e-" last[k]; exit 1 }
      last[k] = e
    }' "$1" >"$W/order.err" || die "read-out: per-key order differs from the input: $(cat "$W/order.err")"
}

# single_row KIND LABEL DURABILITY SETUP CHECK FUNC: queues a row of one process per
# event, FUNC LINE for each of the singles (SETUP before each run, CHECK after it);
# run_single_rows runs the queued rows in turn (run 1 of each, then run 2, ...), so
# that a slow stretch of the machine or of its disk's fsyncs falls on all of them,
# and records row single of each in milliseconds per event.
s_kind=() s_label=() s_dur=() s_setup=() s_check=() s_fn=()
single_row() {
  s_kind+=("$1") s_label+=("$2") s_dur+=("$3") s_setup+=("$4") s_check+=("$5") s_fn+=("$6")
}
run_single_rows() {
  local i k line t0 t1 vals=()
  for ((i = 1; i <= runs; i++)); do
    for k in "${!s_label[@]}"; do
      "${s_setup[k]}"
      sync_fs
      t0=$EPOCHREALTIME
      while IFS= read -r line; do
        "${s_fn[k]}" "$line" || die "${s_label[k]}: failed on: $line"
      done <"$singles_file"
      t1=$EPOCHREALTIME
      "${s_check[k]}"
      vals[k]+="${vals[k]:+,}$(div "$((${t1/./} - ${t0/./}))" "$((singles * 1000))")"
      note "  ${s_label[k]}, run $i: $(div "$((${t1/./} - ${t0/./}))" 1e6) s"
    done
  done
  for k in "${!s_label[@]}"; do
    record single "${s_kind[k]}" "${s_label[k]}" "${s_dur[k]}" "${vals[k]}"
  done
  s_kind=() s_label=() s_dur=() s_setup=() s_check=() s_fn=()
}
# measure_single KIND LABEL DURABILITY SETUP CHECK FUNC: one such row alone.
measure_single() {
  single_row "$@"
  run_single_rows
}
expect_count() { # WHAT GOT WANT
  [ "$2" = "$3" ] || die "$1: $2, expected $3"
}

# record_latency KIND LABEL DURABILITY CMD...: CMD prints "count p50 p90 p99 max" in
# microseconds; rows lat50 and lat99 in milliseconds.
record_latency() {
  local kind=$1 label=$2 dur=$3 i n p50 p90 p99 max l50="" l99=""
  shift 3
  for ((i = 1; i <= runs; i++)); do
    read -r n p50 p90 p99 max < <("$@" 2>"$W/lat.err") || true
    [ "${n:-0}" = "$lat_events" ] || { cat -- "$W/lat.err" >&2; die "$label: latency run gave '${n:-nothing}'"; }
    append l50 "$(div "$p50" 1000)"
    append l99 "$(div "$p99" 1000)"
    note "  $label, run $i: p50 $(div "$p50" 1000) ms, p99 $(div "$p99" 1000) ms (p90 $(div "$p90" 1000), max $(div "$max" 1000))"
  done
  record lat50 "$kind" "$label" "$dur" "$l50"
  record lat99 "$kind" "$label" "$dur" "$l99"
}

# ---------------------------------------------------------------- pspf
D_BATCH="pspf-produce --sync batch: fdatasync before exit 0"
D_NONE="--sync none: page cache only, no fsync"
data="$W/pspf-data"
pspf_records() {
  "$bin/pspf-topics" -d "$1" describe "$2" --json | grep -o '"records":[0-9]*' |
    awk -F: '{ s += $2 } END { print s + 0 }'
}
pspf_setup() { rm -rf -- "$data"; }
pspf_check() { expect_count "pspf-produce: records" "$(pspf_records "$data" inv)" "$events"; }
pspf_size() { dir_bytes "$data"; }
note "pspf ($("$bin/pspf-produce" --version | head -n 1)): $events events, $ev_bytes bytes, $runs run(s), work folder $W"
note "ingest: pspf-produce"
ING_SETUP=pspf_setup ING_CHECK=pspf_check ING_SIZE=pspf_size
measure_ingest pspf "pspf-produce" "$D_BATCH" "$events" "$ev" \
  "$bin/pspf-produce" -d "$data" inv --key-field item.id --partitions 4 --sync batch -q "$ev"
# Exactly-once by event id (issue target: within 1.2x the time of plain produce): the
# same import, each event's id looked up and added in the partition's ids.hix.
ING_SETUP=pspf_setup ING_CHECK=pspf_check ING_SIZE=pspf_size
measure_ingest pspf "pspf-produce --id-field" "$D_BATCH; ids deduplicated" "$events" "$ev" \
  "$bin/pspf-produce" -d "$data" inv --key-field item.id --id-field event_id --partitions 4 \
  --sync batch -q "$ev"
ING_SETUP=pspf_setup ING_CHECK=pspf_check
measure_ingest pspf "pspf-produce --sync none" "$D_NONE" "$events" "$ev" \
  "$bin/pspf-produce" -d "$data" inv --key-field item.id --partitions 4 --sync none -q "$ev"
# The read-outs read the log of the last run; sync it first, as the batch runs did.
sync_fs
note "read-out: pspf-replay, pspf-consume"
read_row pspf "pspf-replay > file" "reads the log as written" same_events \
  "$bin/pspf-replay" -d "$data" inv
read_row pspf "pspf-replay --no-merge > file" "reads the log as written" same_events \
  "$bin/pspf-replay" -d "$data" inv --no-merge
consume_setup_check() {
  same_events "$@"
  "$bin/pspf-offsets" -d "$data" delete -g bench --force >/dev/null 2>&1 || true
}
read_row pspf "pspf-consume -e > file" "group offsets committed (fsynced)" consume_setup_check \
  "$bin/pspf-consume" -d "$data" -g bench inv -e
run_read_rows
# The smoke test compares a replay of this log with the input itself.
[ -n "$tmp" ] || cp -- "$ev" "$W/pspf-input.jsonl"

# ---------------------------------------------------------------- the floor: cat, dd
floor_out="$W/floor.out"
floor_setup() { rm -f -- "$floor_out"; }
floor_check() { cmp -s -- "$floor_out" "$ev" || die "floor: $floor_out differs from the input"; }
floor_size() { stat -c %s -- "$floor_out"; }
note "floor: cat, dd"
ING_SETUP=floor_setup ING_CHECK=floor_check ING_SIZE=floor_size
# shellcheck disable=SC2016  # $1 and $2 belong to the inner shell
measure_ingest floor "cat > file; sync file" "fsync of the file" "$events" /dev/null \
  sh -c 'cat -- "$1" >"$2" && sync -- "$2"' sh "$ev" "$floor_out"
ING_SETUP=floor_setup ING_CHECK=floor_check
measure_ingest floor "dd bs=1M conv=fsync" "fsync of the file" "$events" "$ev" \
  dd of="$floor_out" bs=1M conv=fsync status=none
measure_read floor "cat file > file" "—" same_bytes cat -- "$ev"
rm -f -- "$floor_out"

# ---------------------------------------------------------------- SQLite
db="$W/sqlite.db"
sq_setup() { rm -f -- "$db" "$db-wal" "$db-shm"; }
sq_check() { expect_count "sqlite: keyed rows" "$(sqlite3 "$db" 'SELECT count(key) FROM ev')" "$events"; }
sq_size() { cat -- "$db" "$db-wal" 2>/dev/null | wc -c; }
D_SQFULL="WAL, synchronous=FULL: commit fsynced"
if command -v sqlite3 >/dev/null; then
  note "SQLite: sqlite3 CLI"
  sql="$W/sqlite-import.sql"
  sqlite_import_script "$ev" >"$sql"
  ING_SETUP=sq_setup ING_CHECK=sq_check ING_SIZE=sq_size
  measure_ingest peer "sqlite3 CLI (.import)" "$D_SQFULL" "$events" "$sql" sqlite3 "$db"
  measure_read peer "sqlite3 CLI SELECT" "—" same_bytes sqlite3 "$db" 'SELECT body FROM ev ORDER BY seq'
else
  skip_rows peer "sqlite3 CLI" "$D_SQFULL" "sqlite3 not installed" ingest rss bytes readout
fi
if [ -x "$sqlite_bench" ]; then
  note "SQLite: C API (tests/bench/sqlite_bench.c)"
  ING_SETUP=sq_setup ING_CHECK=sq_check ING_SIZE=sq_size
  measure_ingest peer "SQLite C API, FULL" "$D_SQFULL" "$events" "$ev" "$sqlite_bench" ingest "$db" FULL
  measure_read peer "SQLite C API SELECT" "—" same_bytes "$sqlite_bench" read "$db"
  ING_SETUP=sq_setup ING_CHECK=sq_check
  measure_ingest peer "SQLite C API, OFF" "WAL, synchronous=OFF: no fsync" "$events" "$ev" \
    "$sqlite_bench" ingest "$db" OFF
else
  skip_rows peer "SQLite C API" "$D_SQFULL" "no sqlite_bench (libsqlite3-dev and cc needed)" ingest rss bytes readout
fi
sq_setup

# ---------------------------------------------------------------- Redis Streams
D_EVERYSEC="AOF appendfsync everysec: up to 1 s lost"
D_ALWAYS="AOF appendfsync always: fsync before replying"
redis_pid="" rport=""
rdir="$W/redis"
# redis_start FSYNC: a fresh redis-server (empty data folder) on a free port of
# 127.0.0.1 with AOF appendfsync FSYNC; sets redis_pid and rport.
redis_start() {
  local try
  for try in 1 2 3; do
    rm -rf -- "$rdir" && mkdir -p -- "$rdir"
    rport=$(bench_free_port) || return 1
    redis-server --bind 127.0.0.1 --port "$rport" --protected-mode yes --save "" \
      --appendonly yes --appendfsync "$1" --dir "$rdir" --logfile "$rdir/redis.log" \
      --daemonize no </dev/null >/dev/null 2>&1 &
    redis_pid=$!
    server_pids+=("$redis_pid")
    if bench_wait_port "$rport" "$redis_pid" &&
      [ "$(redis-cli -h 127.0.0.1 -p "$rport" ping 2>/dev/null)" = PONG ]; then
      return 0
    fi
    stop_server "$redis_pid"
    note "redis-server did not start on port $rport (try $try)"
  done
  return 1
}
redis_stop() { [ -z "$redis_pid" ] || stop_server "$redis_pid"; redis_pid=""; }
rcli() { redis-cli -h 127.0.0.1 -p "$rport" "$@"; }
redis_pipe() { redis-cli -h 127.0.0.1 -p "$rport" --pipe; }
redis_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/$redis_pid/status"; }
redis_size() { dir_bytes "$rdir/appendonlydir"; }
redis_ok=0
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  redis_ok=1
fi
if [ "$redis_ok" = 1 ]; then
  note "Redis Streams: XADD through redis-cli --pipe"
  [ -s "$ev.resp" ] || bench_gen_xadd_resp "$ev" "$ev.resp" || die "cannot write $ev.resp"
  bench_gen_xadd_resp "$ev_always" "$ev_always.resp" || die "cannot write $ev_always.resp"
  redis_fsync=""
  redis_n=0
  redis_setup() {
    redis_stop
    redis_start "$redis_fsync" || die "cannot start redis-server (see $rdir/redis.log)"
  }
  redis_check() {
    grep -q 'errors: 0,' "$W/ingest.out" || die "redis-cli --pipe: $(cat "$W/ingest.out")"
    expect_count "redis: XLEN inv" "$(rcli XLEN inv)" "$redis_n"
  }
  redis_fsync=always redis_n=$always_events
  ING_SETUP=redis_setup ING_CHECK=redis_check ING_SIZE=redis_size ING_RSS=redis_rss
  measure_ingest peer "Redis AOF always (first $always_events events)" "$D_ALWAYS" "$always_events" \
    "$ev_always.resp" redis_pipe
else
  # Under the labels the rows get when they run, so that a report has the same rows.
  no_redis="redis-server not installed"
  skip_rows peer "Redis AOF always (first $always_events events)" "$D_ALWAYS" "$no_redis" ingest rss bytes
  skip_rows peer "Redis AOF everysec" "$D_EVERYSEC" "$no_redis" ingest rss bytes
  skip_rows peer "Redis XRANGE" "—" "$no_redis" readout
  skip_rows peer "Redis XREADGROUP + XACK" "acks in the AOF (everysec)" "$no_redis" readout
  skip_rows peer "redis-cli XADD" "$D_EVERYSEC" "$no_redis" single
  skip_rows peer "Redis XADD → XREADGROUP" "$D_EVERYSEC" "$no_redis" lat50 lat99
fi
if [ "$redis_ok" = 1 ]; then
  redis_fsync=everysec redis_n=$events
  ING_SETUP=redis_setup ING_CHECK=redis_check ING_SIZE=redis_size ING_RSS=redis_rss
  measure_ingest peer "Redis AOF everysec" "$D_EVERYSEC" "$events" "$ev.resp" redis_pipe
  # The read-outs, the single events and the latency use this last server.
  if command -v node >/dev/null; then
    note "Redis Streams: read-out (tests/bench/peers.mjs)"
    redis_xrange() { node "$here/peers.mjs" redis-xrange "$rport" "$events" /dev/stdout; }
    redis_xreadgroup() { node "$here/peers.mjs" redis-xreadgroup "$rport" "$events" /dev/stdout; }
    redis_group_check() {
      same_bytes "$1"
      rcli XGROUP DESTROY inv bench >/dev/null || die "redis: XGROUP DESTROY failed"
    }
    measure_read peer "Redis XRANGE" "—" same_bytes redis_xrange
    measure_read peer "Redis XREADGROUP + XACK" "acks in the AOF (everysec)" redis_group_check redis_xreadgroup
  else
    skip_rows peer "Redis XRANGE" "—" "node not installed" readout
    skip_rows peer "Redis XREADGROUP + XACK" "acks in the AOF (everysec)" "node not installed" readout
  fi
  note "Redis Streams: redis-cli XADD, one process per event"
  redis_single() { redis-cli -h 127.0.0.1 -p "$rport" -x XADD single '*' value <<<"$1" >/dev/null; }
  redis_single_setup() { rcli DEL single >/dev/null; }
  redis_single_check() { expect_count "redis: XLEN single" "$(rcli XLEN single)" "$singles"; }
  measure_single peer "redis-cli XADD" "$D_EVERYSEC" redis_single_setup redis_single_check redis_single
  if command -v node >/dev/null; then
    note "Redis Streams: latency XADD → XREADGROUP BLOCK"
    record_latency peer "Redis XADD → XREADGROUP" "$D_EVERYSEC" \
      node "$here/peers.mjs" redis-latency "$rport" "$lat_events" 1
  else
    skip_rows peer "Redis XADD → XREADGROUP" "$D_EVERYSEC" "node not installed" lat50 lat99
  fi
  redis_stop
fi

# ---------------------------------------------------------------- NATS JetStream
D_NATS="file store: acked once written, fsync on the server's timer (not per message)"
nats_pid="" nport=""
ndir="$W/nats"
# nats_start: a fresh nats-server -js (file storage in an empty folder) on a free port
# of 127.0.0.1, no monitoring port; sets nats_pid and nport.
nats_start() {
  local try
  for try in 1 2 3; do
    rm -rf -- "$ndir" && mkdir -p -- "$ndir"
    nport=$(bench_free_port) || return 1
    nats-server -js -sd "$ndir/store" -a 127.0.0.1 -p "$nport" -l "$ndir/nats.log" </dev/null >/dev/null 2>&1 &
    nats_pid=$!
    server_pids+=("$nats_pid")
    bench_wait_port "$nport" "$nats_pid" && return 0
    stop_server "$nats_pid"
    note "nats-server did not start on port $nport (try $try)"
  done
  return 1
}
nats_stop() { [ -z "$nats_pid" ] || stop_server "$nats_pid"; nats_pid=""; }
if ! command -v nats-server >/dev/null; then
  nats_skip="nats-server not installed"
elif [ "$have_nats_js" != 1 ]; then
  nats_skip="no node, or npm package nats not installed"
else
  nats_skip=""
fi
if [ -z "$nats_skip" ]; then
  note "NATS JetStream: ingest, read-out, latency (tests/bench/peers.mjs)"
  nats_setup() {
    nats_stop
    nats_start || die "cannot start nats-server (see $ndir/nats.log)"
  }
  nats_ingest() { node "$here/peers.mjs" nats-ingest "$nport" "$ev"; }
  nats_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/$nats_pid/status"; }
  nats_size() { dir_bytes "$ndir/store"; }
  ING_SETUP=nats_setup ING_SIZE=nats_size ING_RSS=nats_rss
  measure_ingest peer "NATS JetStream" "$D_NATS" "$events" /dev/null nats_ingest
  nats_read() { node "$here/peers.mjs" nats-read "$nport" "$events" /dev/stdout; }
  measure_read peer "NATS pull consumer + ack" "acks stored by the server" same_bytes nats_read
  record_latency peer "NATS publish → consumer" "$D_NATS" \
    node "$here/peers.mjs" nats-latency "$nport" "$lat_events" 1
  nats_stop
else
  # Under the labels the rows get when they run, so that a report has the same rows.
  skip_rows peer "NATS JetStream" "$D_NATS" "$nats_skip" ingest rss bytes
  skip_rows peer "NATS pull consumer + ack" "acks stored by the server" "$nats_skip" readout
  skip_rows peer "NATS publish → consumer" "$D_NATS" "$nats_skip" lat50 lat99
fi

# ---------------------------------------------------------------- Kafka backend (mock cluster)
# pspf -b against kcat, two librdkafka clients of the same cluster: librdkafka's mock
# cluster (build/tests/pspf-mock-kafka, 3 brokers on 127.0.0.1, everything in memory),
# so these rows compare clients, not Kafka. Their kinds are kpspf and kpeer: their
# ratio is to kcat only. A Kafka row whose output is wrong is a FAILED row, and the
# script exits 1 once the report is written.
D_KP="acks=all, idempotent (pspf's fixed settings); the mock holds it in memory"
D_KK="-X acks=all -X enable.idempotence=true; the mock holds it in memory"
mock="$bin/../tests/pspf-mock-kafka"
kdir="$W/kafka"
kafka_pid="" kafka_brokers=""
kafka_failed=()
# The mock keeps only the last 5 MiB or so of each partition (librdkafka 2.0), so the
# read-outs read a topic of at most this many events (4 partitions of about 3.6 MB);
# the ingest rows take at most kafka_ingest_max events (the mock drops what it cannot
# keep), which holds the whole run within its 10 minutes.
kafka_read_max=100000 kafka_ingest_max=300000
kafka_n=$((events < kafka_ingest_max ? events : kafka_ingest_max))
kafka_rn=$((events < kafka_read_max ? events : kafka_read_max))
# kafka_start TOPIC:PARTITIONS...: the mock cluster with these topics; sets kafka_pid
# and kafka_brokers (the bootstrap address it prints first).
kafka_start() {
  local i
  rm -rf -- "$kdir" && mkdir -p -- "$kdir"
  "$mock" 3 "$@" </dev/null >"$kdir/mock.out" 2>"$kdir/mock.err" &
  kafka_pid=$!
  server_pids+=("$kafka_pid")
  for ((i = 0; i < 500; i++)); do
    kafka_brokers=$(head -n 1 -- "$kdir/mock.out")
    [[ $kafka_brokers =~ ^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+)*$ ]] && return 0
    kill -0 "$kafka_pid" 2>/dev/null || break
    sleep 0.02
  done
  stop_server "$kafka_pid"
  kafka_pid=""
  return 1
}
# kafka_records TOPIC [WHEN]: the sum of its partitions' end offsets (high watermarks),
# or with WHEN -2 of their start offsets.
kafka_records() {
  local p q=()
  for p in 0 1 2 3; do q+=(-t "$1:$p:${2:--1}"); done
  kcat -Q -b "$kafka_brokers" "${q[@]}" 2>>"$kdir/kcat.err" |
    awk '$NF ~ /^[0-9]+$/ { s += $NF; n++ } END { if (n == 4) print s; else print "?" }'
}
# kafka_row OP KIND LABEL DURABILITY CHECK IN TOPIC CMD...: a row for kafka_rows_run,
# like measure_ingest (rows ingest and rss) or measure_read (row readout), @RUN@ in
# CMD being the run's number (a fresh topic or group each run). CHECK FILE RUN (with
# kafka_topic set to TOPIC) prints what is wrong and fails; then the row reads FAILED
# and its other runs are left out.
kafka_rows=0
kafka_row() {
  local r=$kafka_rows
  kr_op[r]=$1 kr_kind[r]=$2 kr_label[r]=$3 kr_dur[r]=$4 kr_check[r]=$5 kr_in[r]=$6 kr_topic[r]=$7
  shift 7
  declare -g -a "kr_cmd_$r"
  local -n cmd_of_row="kr_cmd_$r"
  # shellcheck disable=SC2034  # (cmd_of_row names the row's array)
  cmd_of_row=("$@")
  kafka_rows=$((r + 1))
}
# kafka_rows_run: measures the rows given since the last call in turn (run 1 of each,
# then run 2 of each...), so that a machine slowing down or speeding up during the
# runs moves every row alike, and records them.
kafka_rows_run() {
  local r i n cmd rates=() rsss=() bad=()
  for ((i = 1; i <= runs; i++)); do
    for ((r = 0; r < kafka_rows; r++)); do
      [ -z "${bad[r]:-}" ] || continue
      local -n row_cmd="kr_cmd_$r"
      cmd=("${row_cmd[@]//@RUN@/$i}")
      n=$kafka_n
      [ "${kr_op[r]}" = ingest ] || n=$kafka_rn
      kafka_topic=${kr_topic[r]}
      sync_fs
      if ! timed "${kr_in[r]}" "$W/kafka.out" "${cmd[@]}"; then
        bad[r]="run $i: '${cmd[*]}' exited $?"
        continue
      fi
      bad[r]=$("${kr_check[r]}" "$W/kafka.out" "$i") || { bad[r]="run $i: ${bad[r]}" && continue; }
      rates[r]+="${rates[r]:+,}$(div "$((n * 1000000))" "$us")"
      [ -z "$rss_kib" ] || rsss[r]+="${rsss[r]:+,}$(div "$rss_kib" 1024)"
      note "  ${kr_label[r]}, run $i: $(div "$us" 1e6) s${rss_kib:+, $((rss_kib / 1024)) MiB}"
    done
  done
  rm -f -- "$W/kafka.out"
  for ((r = 0; r < kafka_rows; r++)); do
    local op=${kr_op[r]} kind=${kr_kind[r]} label=${kr_label[r]} dur=${kr_dur[r]}
    if [ -n "${bad[r]:-}" ]; then
      note "  $label: FAILED: ${bad[r]}"
      kafka_failed+=("$label: ${bad[r]}")
      record "$op" "$kind" "$label" "$dur" "fail:${bad[r]}"
      [ "$op" != ingest ] || record rss "$kind" "$label" "$dur" "skip:the ingest failed"
      continue
    fi
    record "$op" "$kind" "$label" "$dur" "${rates[r]}"
    [ "$op" != ingest ] || record rss "$kind" "$label" "$dur" "${rsss[r]:-skip:/usr/bin/time missing}"
  done
  kafka_rows=0
}
# Checks of kafka_row. The ingest ones count the records of the run's topic
# ($kafka_topic-RUN); the read-out one wants every event of the read topic once, the
# same lines as its input and each key's events in input order (on the last run).
kafka_ingest_check() {
  local got
  got=$(kafka_records "$kafka_topic-$2")
  [ "$got" = "$kafka_n" ] || { echo "topic $kafka_topic-$2 holds $got records, expected $kafka_n" && return 1; }
}
kafka_read_check() {
  local got
  got=$(wc -l <"$1")
  [ "$got" -eq "$kafka_rn" ] || { echo "$got lines, expected $kafka_rn" && return 1; }
  [ "$2" -eq "$runs" ] || return 0
  sort -S 25% -T "$W" -- "$1" | cmp -s - "$kev.sorted" || { echo "other lines than the input" && return 1; }
  awk '{
      match($0, /"item":[{]"id":"[^"]*"/); k = substr($0, RSTART + 14, RLENGTH - 15)
      match($0, /"event_id":"e-[0-9]+"/); e = substr($0, RSTART + 14, RLENGTH - 15) + 0
      if (e <= last[k]) { print "per-key order differs from the input: key " k ": e-" e " after e-" last[k]; exit 1 }
      last[k] = e
    }' "$1"
}
kafka_skip() { # REASON
  skip_rows kpspf "pspf-produce -b (mock Kafka)" "$D_KP" "$1" ingest rss
  skip_rows kpeer "kcat -P (mock Kafka)" "$D_KK" "$1" ingest rss
  skip_rows kpspf "pspf-produce -b --key-field (mock Kafka)" "$D_KP" "$1" ingest rss
  skip_rows kpeer "kcat -P -K (mock Kafka)" "$D_KK" "$1" ingest rss
  skip_rows kpeer "kcat -C -e (mock Kafka)" "—" "$1" readout
  skip_rows kpspf "pspf-replay -b (mock Kafka)" "—" "$1" readout
  skip_rows kpspf "pspf-replay -b --no-merge (mock Kafka)" "—" "$1" readout
  skip_rows kpspf "pspf-consume -b -e (mock Kafka)" "group offsets committed" "$1" readout
  skip_rows kpeer "kcat -G -e (mock Kafka)" "group offsets auto-committed" "$1" readout
}
kafka_skip_reason=""
if [ ! -x "$mock" ]; then
  kafka_skip_reason="pspf built without the Kafka backend (no $(basename -- "$mock"))"
elif ! command -v kcat >/dev/null; then
  kafka_skip_reason="kcat not installed"
fi
if [ -z "$kafka_skip_reason" ]; then
  note "Kafka backend: pspf -b and kcat against librdkafka's mock cluster ($kafka_n events in, $kafka_rn read out)"
  topics=(kread:4)
  for ((i = 1; i <= runs; i++)); do topics+=("kp-pspf-$i:4" "kp-kcat-$i:4" "kk-pspf-$i:4" "kk-kcat-$i:4"); done
  kafka_start "${topics[@]}" || die "cannot start $mock: $(cat -- "$kdir/mock.err" 2>/dev/null)"
  # The ingest rows take the first kafka_n events.
  kin="$kdir/ingest.jsonl"
  head -n "$kafka_n" -- "$ev" >"$kin" || die "cannot write $kin"
  # kcat -K splits each line into key TAB value (the key extracted by awk, untimed).
  awk '{
      match($0, /"item":[{]"id":"[^"]*"/); printf "%s\t%s\n", substr($0, RSTART + 14, RLENGTH - 15), $0
    }' "$kin" >"$kdir/keyed.tsv" || die "cannot write $kdir/keyed.tsv"
  # Plain lines, values only: no key, no id (pspf spreads them, kcat's partitioner too).
  kafka_row ingest kpspf "pspf-produce -b (mock Kafka)" "$D_KP" kafka_ingest_check "$kin" kp-pspf \
    "$bin/pspf-produce" -b "$kafka_brokers" kp-pspf-@RUN@ -q "$kin"
  kafka_row ingest kpeer "kcat -P (mock Kafka)" "$D_KK" kafka_ingest_check "$kin" kp-kcat \
    kcat -P -b "$kafka_brokers" -t kp-kcat-@RUN@ -X acks=all -X enable.idempotence=true
  # Keyed by item.id, both partitioned by murmur2 as Kafka's Java client does.
  kafka_row ingest kpspf "pspf-produce -b --key-field (mock Kafka)" "$D_KP" kafka_ingest_check "$kin" \
    kk-pspf "$bin/pspf-produce" -b "$kafka_brokers" kk-pspf-@RUN@ --key-field item.id -q "$kin"
  kafka_row ingest kpeer "kcat -P -K (mock Kafka)" "$D_KK" kafka_ingest_check "$kdir/keyed.tsv" \
    kk-kcat kcat -P -b "$kafka_brokers" -t kk-kcat-@RUN@ -K $'\t' -X partitioner=murmur2_random \
    -X acks=all -X enable.idempotence=true
  kafka_rows_run
  # The read-outs read one topic of kafka_rn keyed events, written once, untimed.
  kev="$kdir/read.jsonl"
  head -n "$kafka_rn" -- "$ev" >"$kev"
  sort -S 25% -T "$W" -- "$kev" >"$kev.sorted" || die "cannot sort $kev"
  "$bin/pspf-produce" -b "$kafka_brokers" kread --key-field item.id -q "$kev" ||
    die "pspf-produce -b: cannot fill the read topic"
  expect_count "Kafka read topic: records" "$(kafka_records kread)" "$kafka_rn"
  expect_count "Kafka read topic: start offsets (the mock dropped some events)" "$(kafka_records kread -2)" 0
  kafka_row readout kpeer "kcat -C -e (mock Kafka)" "—" kafka_read_check /dev/null kread \
    kcat -C -b "$kafka_brokers" -t kread -e -q -o beginning -f '%s\n'
  kafka_row readout kpspf "pspf-replay -b (mock Kafka)" "—" kafka_read_check /dev/null kread \
    "$bin/pspf-replay" -b "$kafka_brokers" kread
  kafka_row readout kpspf "pspf-replay -b --no-merge (mock Kafka)" "—" kafka_read_check /dev/null kread \
    "$bin/pspf-replay" -b "$kafka_brokers" kread --no-merge
  kafka_row readout kpspf "pspf-consume -b -e (mock Kafka)" "group offsets committed" kafka_read_check \
    /dev/null kread "$bin/pspf-consume" -b "$kafka_brokers" -g kbench-@RUN@ kread -e
  # kcat's group consumer, for scale: both pay the mock's group join (about 3 s).
  kafka_row readout kpeer "kcat -G -e (mock Kafka)" "group offsets auto-committed" kafka_read_check \
    /dev/null kread kcat -b "$kafka_brokers" -G kbench-kcat-@RUN@ -X auto.offset.reset=earliest -e -q \
    -f '%s\n' kread
  kafka_rows_run
  stop_server "$kafka_pid"
  kafka_pid=""
else
  note "Kafka rows skipped: $kafka_skip_reason"
  kafka_skip "$kafka_skip_reason"
fi

# ---------------------------------------------------------------- one process per event
note "one process per event: pspf-produce, sqlite3, dd, /bin/echo ($singles events)"
single_data="$W/single-data"
single_file="$W/single.out"
pspf_single() { "$bin/pspf-produce" -d "$single_data" single --key-field item.id -q <<<"$1"; }
pspf_single_setup() { rm -rf -- "$single_data"; }
pspf_single_check() { expect_count "pspf-produce single: records" "$(pspf_records "$single_data" single)" "$singles"; }
single_row pspf "pspf-produce" "$D_BATCH" pspf_single_setup pspf_single_check pspf_single
if command -v sqlite3 >/dev/null; then
  # Each event a process and an autocommit transaction; the line holds no quote.
  sqlite_single() {
    sqlite3 "$db" <<<"PRAGMA synchronous=FULL; INSERT INTO ev(key, body) VALUES (json_extract('$1', '\$.item.id'), '$1');"
  }
  sqlite_single_setup() {
    sq_setup
    sqlite3 "$db" 'PRAGMA journal_mode=WAL; CREATE TABLE ev(seq INTEGER PRIMARY KEY, key TEXT, body TEXT NOT NULL);' >/dev/null
  }
  sqlite_single_check() { expect_count "sqlite3 single: keyed rows" "$(sqlite3 "$db" 'SELECT count(key) FROM ev')" "$singles"; }
  single_row peer "sqlite3 INSERT" "$D_SQFULL" sqlite_single_setup sqlite_single_check sqlite_single
else
  skip_rows peer "sqlite3 INSERT" "$D_SQFULL" "sqlite3 not installed" single
fi
file_setup() { rm -f -- "$single_file"; }
file_check() { cmp -s -- "$single_file" "$singles_file" || die "single events: $single_file differs from the input"; }
dd_single() { dd of="$single_file" oflag=append conv=notrunc,fsync status=none <<<"$1"; }
# echo does not read its stdin; the here-string is there so that this floor pays the
# same shell-side cost per event as the other rows.
# shellcheck disable=SC2217
echo_single() { /bin/echo "$1" >>"$single_file" <<<"$1"; }
single_row floor "dd oflag=append conv=fsync" "fsync of the file" file_setup file_check dd_single
single_row floor "/bin/echo >> file" "page cache only, no fsync" file_setup file_check echo_single
run_single_rows
sq_setup
rm -f -- "$single_file"
rm -rf -- "$single_data"

# ---------------------------------------------------------------- start-up
# One process that only starts, or starts and looks one key up in the 1M-event log
# the read-outs used, against /bin/true and /bin/echo: a bash loop of $startups
# invocations each, its stdout checked. The key index (keys.hix) is made by a
# writer only, so the indexed row reads a copy of that log with one more event of
# the key appended with --expect-version (the log itself stays as the smoke test
# replays it).
startups=$((singles < 500 ? singles : 500))
key=$(sed -n '1s/.*"item":{"id":"\([^"]*\)".*/\1/p' -- "$ev")
[ -n "$key" ] || die "start-up: no item.id in the first event of $ev"
key_events=$(grep -c -F -- "\"item\":{\"id\":\"$key\"" "$ev")
note "start-up: pspf-produce --version, pspf-replay --key $key, /bin/true, /bin/echo ($startups processes each)"
keyed_data="$W/keyed-data"
rm -rf -- "$keyed_data"
cp -R -- "$data" "$keyed_data" || die "cannot copy $data"
head -n 1 -- "$ev" | "$bin/pspf-produce" -d "$keyed_data" inv --key-field item.id \
  --expect-version any -q || die "start-up: cannot append to $keyed_data"
# The start-up rows run in turn, run 1 of every row, then run 2 of every row...: a
# disturbance of some seconds (the one-process-per-event rows before, the copy of the
# log above) then slows one run of several rows, not every run of the first row. (Row
# by row, pspf-produce --version's runs took 3.70, 3.45 and 2.45 s for 500 processes,
# and /bin/true's, measured last, 2.18, 2.16 and 2.12 s.)
# startup_row KIND LABEL EXPECTED CMD...: a row of start-up: CMD $startups times; each
# must print EXPECTED (a file) and nothing else; row startup in ms per process.
su_kind=() su_label=() su_expected=() su_cmd=()
startup_row() {
  local fn="startup_row_${#su_label[@]}"
  su_kind+=("$1") su_label+=("$2") su_expected+=("$3") su_cmd+=("$fn")
  shift 3
  row_command "$fn" "$@"
}
run_startup_rows() {
  local i j k t0 t1 vals=()
  for ((i = 1; i <= runs; i++)); do
    for k in "${!su_label[@]}"; do
      t0=$EPOCHREALTIME
      for ((j = 0; j < startups; j++)); do
        "${su_cmd[k]}" >"$W/startup.out" || die "${su_label[k]}: exit status $?"
      done
      t1=$EPOCHREALTIME
      cmp -s -- "$W/startup.out" "${su_expected[k]}" ||
        die "${su_label[k]}: printed $(head -c 200 -- "$W/startup.out")"
      vals[k]+="${vals[k]:+,}$(div "$((${t1/./} - ${t0/./}))" "$((startups * 1000))")"
      note "  ${su_label[k]}, run $i: $(div "$((${t1/./} - ${t0/./}))" 1e6) s"
    done
  done
  for k in "${!su_label[@]}"; do
    record startup "${su_kind[k]}" "${su_label[k]}" "—" "${vals[k]}"
  done
}
"$bin/pspf-produce" --version >"$W/want.version"
echo "$((key_events - 1))" >"$W/want.cv"
echo "$key_events" >"$W/want.cv-keyed"
"$bin/pspf-replay" -d "$data" inv --key "$key" >"$W/want.key"
[ "$(wc -l <"$W/want.key")" = "$key_events" ] || die "pspf-replay --key $key: $(wc -l <"$W/want.key") events, expected $key_events"
: >"$W/want.none"
echo "$key_events" >"$W/want.echo"
startup_row pspf "pspf-produce --version" "$W/want.version" "$bin/pspf-produce" --version
startup_row pspf "pspf-replay --current-version (key index)" "$W/want.cv-keyed" \
  "$bin/pspf-replay" -d "$keyed_data" inv --key "$key" --current-version
startup_row pspf "pspf-replay --current-version (no index)" "$W/want.cv" \
  "$bin/pspf-replay" -d "$data" inv --key "$key" --current-version
startup_row pspf "pspf-replay --key K" "$W/want.key" "$bin/pspf-replay" -d "$data" inv --key "$key"
startup_row floor "/bin/true" "$W/want.none" /bin/true
startup_row floor "/bin/echo" "$W/want.echo" /bin/echo "$key_events"
run_startup_rows
rm -rf -- "$keyed_data"

# ---------------------------------------------------------------- pspf latency
if [ -x "$probe" ] && command -v jq >/dev/null; then
  note "latency: pspf-produce fed line by line → pspf-consume follower ($lat_events events)"
  # latency.sh prints a Markdown row in milliseconds: turn it into microseconds.
  pspf_latency() {
    "$here/latency.sh" --events "$lat_events" --modes stream --pace 0.001 --sync "$1" \
      --bin "$bin" --probe "$probe" |
      awk -F'|' '$2 ~ /stream/ { printf "%d %d %d %d %d\n", $3, $4 * 1000, $5 * 1000, $6 * 1000, $7 * 1000 }'
  }
  record_latency pspf "pspf produce → consume" "$D_NONE" pspf_latency none
  record_latency pspf "pspf produce --sync batch → consume" "--sync batch: each append fdatasynced" pspf_latency batch
else
  skip_rows pspf "pspf produce → consume" "$D_NONE" "no latency_probe next to $bin, or no jq" lat50 lat99
fi

# ---------------------------------------------------------------- report
# summary.tsv: op, order, kind, label, durability, median, min, max, vs best peer,
# vs floor (ratios: > 1 means pspf is better, whichever way the figure points), or
# the skip reason in the median column.
awk -F'\t' -v OFS='\t' '
  BEGIN {
    split("ingest readout single startup lat50 lat99 rss bytes", ops, " ")
    for (i in ops) rank[ops[i]] = i
    hi["ingest"] = hi["readout"] = 1 # higher is better; the others lower
  }
  function better(a, b, op) { return hi[op] ? a > b : a < b }
  {
    n = NR; op[n] = $1; kind[n] = $2; label[n] = $3; dur[n] = $4
    if ($5 ~ /^(skip|fail):/) { skip[n] = $5; next }
    k = split($5, v, ",")
    # insertion sort of the runs, then median (mean of the middle two when even)
    for (i = 2; i <= k; i++) { x = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
    med[n] = (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
    mn[n] = v[1]; mx[n] = v[k]
    b = (kind[n] == "pspf" || kind[n] == "kpspf") ? "" : kind[n]
    if (b != "" && (!((op[n], b) in best) || better(med[n], best[op[n], b], op[n]))) best[op[n], b] = med[n]
  }
  # The Kafka rows (kpspf) are compared with kcat (kpeer) only, and not with the floor.
  function ratio(n, b,   r) {
    if (kind[n] == "kpspf") { if (b != "peer") return "—"; b = "kpeer" }
    else if (kind[n] != "pspf") return "—"
    if ((n in skip) || !((op[n], b) in best)) return "—"
    r = hi[op[n]] ? med[n] / best[op[n], b] : best[op[n], b] / med[n]
    return sprintf("%.6g", r)
  }
  END {
    for (n = 1; n <= NR; n++) {
      order = rank[op[n]] * 1000 + (kind[n] == "pspf" ? 0 : kind[n] == "peer" ? 200 : kind[n] == "floor" ? 400 : kind[n] == "kpspf" ? 600 : 800) + n
      if (n in skip) print op[n], order, kind[n], label[n], dur[n], skip[n], "", "", "—", "—"
      else print op[n], order, kind[n], label[n], dur[n], med[n], mn[n], mx[n], ratio(n, "peer"), ratio(n, "floor")
    }
  }' "$results" | sort -t "$(printf '\t')" -k2,2n >"$W/summary.tsv" || die "cannot summarise $results"

elapsed=$(div "$((${EPOCHREALTIME/./} - ${started/./}))" 1e6)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
versions="pspf $("$bin/pspf-produce" --version | head -n 1 | awk '{ print $NF }') ($commit)"
command -v sqlite3 >/dev/null && versions+=", SQLite $(sqlite3 --version | awk '{ print $1 }')"
command -v redis-server >/dev/null && versions+=", Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
command -v nats-server >/dev/null && versions+=", nats-server $(nats-server --version | awk '{ print $NF }')"
kcat_version=""
command -v kcat >/dev/null && kcat_version=$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\).*/\1 (librdkafka \2)/p')
[ -z "$kcat_version" ] || versions+=", kcat $kcat_version"
[ "$have_nats_js" = 1 ] && versions+=", nats.js $(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$npm_dir/node_modules/nats/package.json" | head -n 1) on node $(node --version)"
cmdline="tests/bench/run.sh"
[ "$events" = 1000000 ] && [ "$singles" = 1000 ] && [ "$lat_events" = 10000 ] && [ "$runs" = 3 ] ||
  cmdline+=" --events $events --singles $singles --latency-events $lat_events --runs $runs"

kafka_note="They ingest $kafka_n events and read out $kafka_rn (the mock keeps about 5 MiB a partition); \"vs best peer\" is against the best kcat row."
[ -z "$kafka_skip_reason" ] || kafka_note="Skipped in this run: $kafka_skip_reason."
md="$out_dir/bench-results.md"
png="$out_dir/bench-results.png"
{
  printf '%s events (%s bytes of JSON lines, %s a line on average); %s single events; %s latency events; median of %s run(s), min and max beside it.\n\n' \
    "$events" "$ev_bytes" "$((ev_bytes / events))" "$singles" "$lat_events" "$runs"
  printf 'Machine: %s cores (%s), %s RAM, %s, Linux %s, data on %s. %s. Run %s, %s s in all, load average before/after: %s.\n\n' \
    "$(nproc)" "$cpu" "$mem" "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")" "$(uname -r)" \
    "$(stat -f -c %T "$W")" "$versions" "$(date -u +%Y-%m-%dT%H:%MZ)" "$elapsed" "$(cut -d' ' -f1-3 /proc/loadavg)"
  # shellcheck disable=SC2016  # the backquotes are Markdown
  printf 'Reproduce: `bash scripts/build.sh && %s` (as root it installs the peers).\n\n' "$cmdline"
  echo '"vs best peer" and "vs floor" are pspf'"'"'s figure against the best SQLite/Redis/NATS row and the best floor row (cat, dd, /bin/echo) of the same operation: above 1× pspf is better, below it is worse, whichever way the figure points.'
  echo
  # pspf against itself (median rates): the price of exactly-once by id, and of the
  # merge of the partitions by time.
  awk -F'\t' '$1 == "ingest" && $4 == "pspf-produce" { plain = $6 }
    $1 == "ingest" && $4 == "pspf-produce --id-field" { ids = $6 }
    $1 == "readout" && $4 == "pspf-replay > file" { merged = $6 }
    $1 == "readout" && $4 == "pspf-replay --no-merge > file" { unmerged = $6 }
    END {
      if (plain + 0 > 0 && ids + 0 > 0)
        printf "`pspf-produce --id-field` took %.2f× the time of the same import without ids (`pspf-produce`).", plain / ids
      if (merged + 0 > 0 && unmerged + 0 > 0)
        printf " `pspf-replay` took %.2f× the time of `pspf-replay --no-merge` (the merge of the partitions by time).", unmerged / merged
      print "\n"
    }' "$W/summary.tsv"
  # shellcheck disable=SC2016  # the backquotes are Markdown
  printf 'The "(mock Kafka)" rows run pspf'"'"'s Kafka backend (`-b`) and kcat %s against librdkafka'"'"'s mock cluster (3 brokers on 127.0.0.1, in memory, a fresh topic of 4 partitions for each ingest run, a new group for each pspf-consume run): they compare clients, not Kafka. %s\n' \
    "${kcat_version:-(not installed)}" "$kafka_note"
  echo
  echo '| operation | system | durability | median | min | max | vs best peer | vs floor |'
  echo '|---|---|---|---:|---:|---:|---:|---:|'
  awk -F'\t' '
    BEGIN {
      t["ingest"] = "ingest, events/s ↑"; t["readout"] = "read-out, events/s ↑"
      t["single"] = "one process per event, ms ↓"; t["lat50"] = "end-to-end latency p50, ms ↓"
      t["startup"] = "one process: start-up, one key lookup, ms ↓"
      t["lat99"] = "end-to-end latency p99, ms ↓"; t["rss"] = "peak RSS while ingesting, MiB ↓"
      t["bytes"] = "bytes on disk per event ↓"
    }
    function group(x,   s, r) {
      s = sprintf("%.0f", x); r = ""
      while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
      return s r
    }
    function fmt(op, x) {
      if (x == "") return ""
      if (op == "ingest" || op == "readout") return group(x)
      if (x >= 100) return sprintf("%.0f", x)
      if (x >= 10) return sprintf("%.1f", x)
      return sprintf("%.3g", x)
    }
    function r(x) {
      if (x == "—") return x
      return (x >= 1) ? sprintf("**%.2f× better**", x) : sprintf("%.2f× worse", 1 / x)
    }
    {
      sys = ($3 == "pspf" || $3 == "kpspf") ? "**" $4 "**" : ($3 == "floor") ? "floor: " $4 : $4
      if ($6 ~ /^skip:/) printf "| %s | %s | %s | skipped: %s | | | | |\n", t[$1], sys, $5, substr($6, 6)
      else if ($6 ~ /^fail:/) printf "| %s | %s | %s | **FAILED**: %s | | | | |\n", t[$1], sys, $5, substr($6, 6)
      else printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", t[$1], sys, $5, fmt($1, $6), fmt($1, $7), fmt($1, $8), r($9), r($10)
    }' "$W/summary.tsv"
} >"$md.tmp" || die "cannot write $md.tmp"
mv -- "$md.tmp" "$md" || die "cannot write $md"
note "wrote $md"

# ---------------------------------------------------------------- chart
if command -v gnuplot >/dev/null; then
  "$here/chart.sh" "$W/summary.tsv" "$png" \
    "$events events, median of $runs run(s), $(date -u +%Y-%m-%d); $versions" || die "chart.sh failed"
  note "wrote $png"
else
  note "gnuplot not installed: no chart (Debian package gnuplot-nox)"
fi
if [ ${#kafka_failed[@]} -gt 0 ]; then
  printf 'run.sh: FAILED (Kafka row): %s\n' "${kafka_failed[@]}" >&2
  exit 1
fi
note "done in $elapsed s"
