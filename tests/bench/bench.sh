#!/usr/bin/env bash
# pspf benchmark: produce and replay 1,000,000 inventory-like JSON events, check that
# what comes back is exactly what went in, and compare with peers for scale (cat,
# SQLite, jq, Redis Streams) when they are installed. Prints a Markdown table on
# stdout; progress and notes go to stderr. See tests/bench/README.md.
# The setup and check functions are called through measure(), which shellcheck cannot see.
# shellcheck disable=SC2317
set -u -o pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: tests/bench/bench.sh [OPTIONS]

Benchmarks pspf-produce and pspf-replay on N inventory-like JSON events (about 116
bytes each, key field item.id, 4 partitions, --sync batch), checks the replayed events
against the input, runs peers (cat, sqlite3, jq, redis) that are installed, and prints
a Markdown table. Each figure is the best of --runs runs; peak RSS is the largest seen.

Options:
  --events N            number of events (default 1000000)
  --dir DIR             keep the events, data and outputs in DIR (reused next time:
                        the generated events are cached there); default: a temporary
                        folder under ${TMPDIR:-/tmp}, removed on exit
  --bin DIR             folder with pspf-produce, pspf-replay, pspf-topics
                        (default: build/tools of this repository)
  --runs N              runs per measurement (default 3)
  --no-peers            measure pspf only
  --with-peers-install  apt-get install the missing peers first (time, sqlite3, jq,
                        redis-server); needs root. Without it missing peers are skipped
  --strict              exit 1 if a pspf target is missed (default: exit 0, informational)
  -h, --help            print this help and exit

Exit status: 0 done (targets are informational unless --strict), 1 a command failed,
its output was wrong, or (--strict) a target was missed, 2 usage error.
EOF
}

note() { printf 'bench: %s\n' "$*" >&2; }
die() {
  printf 'bench: FAILED: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'bench: %s (see --help)\n' "$*" >&2
  exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

events=1000000
keep_dir=""
bin="$repo/build/tools"
runs=3
peers=1
peers_install=0
strict=0

while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    --events=* | --dir=* | --bin=* | --runs=*)
      set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
      continue
      ;;
    --events | --dir | --bin | --runs)
      [ $# -ge 2 ] || usage_error "$opt needs a value"
      case $opt in
        --events) events=$2 ;;
        --dir) keep_dir=$2 ;;
        --bin) bin=$2 ;;
        --runs) runs=$2 ;;
      esac
      shift 2
      ;;
    --no-peers) peers=0 && shift ;;
    --with-peers-install) peers_install=1 && shift ;;
    --strict) strict=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown argument: $opt" ;;
  esac
done

[[ $events =~ ^[1-9][0-9]{0,8}$ ]] || usage_error "--events wants a whole number from 1 to 999999999, not '$events'"
[[ $runs =~ ^[1-9][0-9]?$ ]] || usage_error "--runs wants a whole number from 1 to 99, not '$runs'"
[ -n "$keep_dir" ] && [[ $keep_dir == *'"'* ]] && usage_error "--dir must not contain a double quote"

for t in pspf-produce pspf-replay pspf-topics; do
  [ -x "$bin/$t" ] || usage_error "$bin/$t not found: build first (bash scripts/build.sh) or give --bin DIR"
done
bin=$(cd "$bin" && pwd)

# ---------------------------------------------------------------- work folder, clean-up
tmp=""
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    redis_pid=""
  fi
  if [ -n "$tmp" ]; then
    rm -rf -- "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "$keep_dir" ]; then
  mkdir -p -- "$keep_dir" || die "cannot create $keep_dir"
  W=$(cd "$keep_dir" && pwd)
else
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/pspf-bench.XXXXXX") || die "cannot create a temporary folder"
  W=$tmp
fi

# ---------------------------------------------------------------- optional installs
if [ "$peers_install" = 1 ]; then
  want=()
  [ -x /usr/bin/time ] || want+=(time)
  if [ "$peers" = 1 ]; then
    command -v sqlite3 >/dev/null || want+=(sqlite3)
    command -v jq >/dev/null || want+=(jq)
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null || want+=(redis-server)
  fi
  if [ ${#want[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "--with-peers-install needs root; or run: apt-get install -y ${want[*]}"
    note "installing ${want[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq "${want[@]}"; } >"$W/apt.log" 2>&1 ||
      die "apt-get install ${want[*]} failed (log: $W/apt.log)"
  fi
fi

have_time=0
if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
  have_time=1
else
  note "/usr/bin/time (Debian package 'time') not found: peak RSS reads n/a"
fi

# ---------------------------------------------------------------- the events
gen_version=1
ev="$W/events-v$gen_version-$events.jsonl"
ev_sorted="$ev.sorted"
if [ ! -s "$ev" ]; then
  note "generating $events events into $ev"
  bench_gen_events "$events" "$ev" || die "cannot write $ev"
  rm -f -- "$ev_sorted"
fi
if [ ! -s "$ev_sorted" ]; then
  sort -S 25% -T "$W" -- "$ev" >"$ev_sorted.tmp" || die "cannot sort $ev"
  mv -- "$ev_sorted.tmp" "$ev_sorted" || die "cannot write $ev_sorted"
fi
ev_bytes=$(wc -c <"$ev")
ev_lines=$(wc -l <"$ev")
[ "$ev_lines" -eq "$events" ] || die "$ev has $ev_lines lines, not $events (delete it to regenerate)"

# ---------------------------------------------------------------- timing
T_IN=/dev/null
T_OUT=/dev/null
T_ERR="$W/step.err"
last_us=0
last_rss=""
last_rc=0

# timed CMD...: run CMD once (stdin $T_IN, stdout $T_OUT, stderr $T_ERR); sets last_us
# (wall time in microseconds), last_rss (peak RSS in KiB, or empty) and last_rc.
timed() {
  local t0 t1
  last_rss=""
  t0=$EPOCHREALTIME
  if [ "$have_time" = 1 ]; then
    /usr/bin/time -f %M -o "$W/rss" "$@" <"$T_IN" >"$T_OUT" 2>"$T_ERR"
    last_rc=$?
  else
    "$@" <"$T_IN" >"$T_OUT" 2>"$T_ERR"
    last_rc=$?
  fi
  t1=$EPOCHREALTIME
  last_us=$((${t1/./} - ${t0/./}))
  if [ "$have_time" = 1 ]; then
    last_rss=$(tail -n 1 "$W/rss")
    [[ $last_rss =~ ^[0-9]+$ ]] || last_rss=""
  fi
  return "$last_rc"
}

declare -A best_us=() peak_rss=()

# measure KEY SETUP CHECK CMD...: $runs times: SETUP (untimed), CMD (timed), CHECK RUN
# (untimed; dies on wrong output). Keeps the best wall time and the largest RSS.
measure() {
  local key=$1 setup=$2 check=$3 i
  shift 3
  for ((i = 1; i <= runs; i++)); do
    "$setup"
    if ! timed "$@"; then
      cat -- "$T_ERR" >&2
      die "$key: '$*' exited $last_rc"
    fi
    "$check" "$i"
    note "  $key run $i: $(awk -v us="$last_us" 'BEGIN { printf "%.3f s", us / 1e6 }')${last_rss:+, $((last_rss / 1024)) MiB}"
    if [ -z "${best_us[$key]:-}" ] || [ "$last_us" -lt "${best_us[$key]}" ]; then
      best_us[$key]=$last_us
    fi
    if [ -n "$last_rss" ] && { [ -z "${peak_rss[$key]:-}" ] || [ "$last_rss" -gt "${peak_rss[$key]}" ]; }; then
      peak_rss[$key]=$last_rss
    fi
  done
}

sync_fs() { sync -f -- "$W" 2>/dev/null || sync; }
no_setup() { :; }
no_check() { :; }

# ---------------------------------------------------------------- output checks
expect_lines() { # FILE WHAT
  local n
  n=$(wc -l <"$1")
  [ "$n" -eq "$events" ] || die "$2: wrote $n lines, expected $events"
}

# Same multiset of lines as the input, and per key (item.id) the input's order.
expect_same_events() { # FILE WHAT
  expect_lines "$1" "$2"
  sort -S 25% -T "$W" -- "$1" | cmp -s - "$ev_sorted" ||
    die "$2: the output lines differ from the input lines (compare: sort $1 | diff - $ev_sorted${tmp:+; rerun with --dir DIR to keep these files})"
  awk '{
      if (!match($0, /"item":[{]"id":"[^"]*"/)) { print "no item.id: " $0; exit 1 }
      k = substr($0, RSTART + 14, RLENGTH - 15)
      if (!match($0, /"event_id":"e-[0-9]+"/)) { print "no event_id: " $0; exit 1 }
      e = substr($0, RSTART + 14, RLENGTH - 15) + 0
      if (e <= last[k]) { print "key " k ": e-" e " after e-" last[k]; exit 1 }
      last[k] = e
    }' "$1" >"$W/order.err" || die "$2: per-key order differs from the input: $(cat "$W/order.err")"
}

topic_records() { # DATA TOPIC: record count from pspf-topics describe --json
  "$bin/pspf-topics" -d "$1" describe "$2" --json | grep -o '"records":[0-9]*' |
    awk -F: '{ s += $2 } END { print s + 0 }'
}

# ---------------------------------------------------------------- results table
rows=()
failed=0

# add_row LABEL KEY COUNT BYTES TARGET_RATE TARGET_RSS_MIB (0 = no target)
add_row() {
  local label=$1 key=$2 count=$3 bytes=$4 trate=$5 trss=$6 line verdict
  line=$(awk -v label="$label" -v us="${best_us[$key]}" -v rss="${peak_rss[$key]:-}" \
    -v n="$count" -v b="$bytes" -v trate="$trate" -v trss="$trss" '
    function group(x,   s, r) {
      s = sprintf("%.0f", x); r = ""
      while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
      return s r
    }
    BEGIN {
      sec = us / 1e6; rate = n / sec; mib = b / 1048576 / sec
      rs = (rss == "") ? "n/a" : sprintf("%.1f", rss / 1024)
      tg = ""; v = ""; bad = 0
      if (trate > 0) {
        tg = "≥ " group(trate) "/s"
        if (rate < trate) { bad = 1; v = sprintf("rate %.0f%% of target", 100 * rate / trate) }
      }
      if (trss > 0) {
        tg = tg (tg == "" ? "" : ", ") "RSS < " trss " MiB"
        if (rss == "") v = v (v == "" ? "" : "; ") "RSS not measured"
        else if (rss / 1024 >= trss) { bad = 1; v = v (v == "" ? "" : "; ") sprintf("RSS %.1f MiB", rss / 1024) }
      }
      if (tg == "") { tg = "—"; verdict = "—" }
      else verdict = bad ? "**FAIL** (" v ")" : (v == "" ? "PASS" : "PASS (" v ")")
      printf "%d\t| %s | %s | %.1f | %s | %s | %s |\n", bad, label, group(rate), mib, rs, tg, verdict
    }')
  verdict=${line%%$'\t'*}
  rows+=("${line#*$'\t'}")
  [ "$verdict" = 1 ] && failed=1
  return 0
}
skip_row() { rows+=("| $1 | — | — | — | — | skipped: $2 |"); }

# ---------------------------------------------------------------- pspf
version=$("$bin/pspf-produce" --version 2>/dev/null | head -n 1)
note "pspf: $bin ($version); work folder $W ($(stat -f -c %T "$W")); $events events, $ev_bytes bytes; best of $runs"

data_key="$W/data-key"
data_id="$W/data-id"
out="$W/out.jsonl"

setup_produce_key() { rm -rf -- "$data_key" && sync_fs; }
check_produce_key() {
  local n
  n=$(topic_records "$data_key" inv)
  [ "$n" = "$events" ] || die "pspf-produce: the topic holds $n records, expected $events"
}
note "1. pspf-produce --key-field item.id --partitions 4 --sync batch"
measure produce setup_produce_key check_produce_key \
  "$bin/pspf-produce" -d "$data_key" inv --key-field item.id --partitions 4 --sync batch -q "$ev"
add_row "pspf-produce --key-field item.id, 4 partitions, --sync batch" produce "$events" "$ev_bytes" 2000000 64

setup_out() { rm -f -- "$out" && sync_fs; }
check_replay() {
  expect_lines "$out" pspf-replay
  if [ "$1" -eq "$runs" ]; then expect_same_events "$out" pspf-replay; fi
}
check_replay_nomerge() {
  expect_lines "$out" "pspf-replay --no-merge"
  if [ "$1" -eq "$runs" ]; then expect_same_events "$out" "pspf-replay --no-merge"; fi
}
note "2. pspf-replay > file (merged by time)"
T_OUT=$out
measure replay setup_out check_replay "$bin/pspf-replay" -d "$data_key" inv
add_row "pspf-replay > file (merged across partitions)" replay "$events" "$ev_bytes" 4500000 64

note "3. pspf-replay --no-merge > file"
measure replay_nomerge setup_out check_replay_nomerge "$bin/pspf-replay" -d "$data_key" inv --no-merge
add_row "pspf-replay --no-merge > file" replay_nomerge "$events" "$ev_bytes" 4500000 64

if [ -x "$bin/pspf-consume" ]; then
  note "3b. pspf-consume -e > file (a new group each run)"
  # Each run starts a fresh group (deleting the last run's, untimed).
  setup_consume() {
    "$bin/pspf-offsets" -d "$data_key" delete -g bench --force >/dev/null 2>&1 || true
    rm -f -- "$out" && sync_fs
  }
  check_consume() {
    expect_lines "$out" "pspf-consume -e"
    if [ "$1" -eq "$runs" ]; then expect_same_events "$out" "pspf-consume -e"; fi
  }
  T_OUT=$out
  measure consume setup_consume check_consume "$bin/pspf-consume" -d "$data_key" -g bench inv -e
  add_row "pspf-consume -e > file (commits included)" consume "$events" "$ev_bytes" 4500000 64
else
  skip_row "pspf-consume -e > file" "no pspf-consume in $bin yet"
fi
T_OUT=/dev/null
rm -f -- "$out"

if "$bin/pspf-produce" --help 2>&1 | grep -q -- '--id-field'; then
  setup_produce_id() { rm -rf -- "$data_id" && sync_fs; }
  check_produce_id() {
    local n
    n=$(topic_records "$data_id" inv)
    [ "$n" = "$events" ] || die "pspf-produce --id-field: the topic holds $n records, expected $events"
  }
  note "4. pspf-produce --key-field item.id --id-field event_id"
  measure produce_id setup_produce_id check_produce_id \
    "$bin/pspf-produce" -d "$data_id" inv --key-field item.id --id-field event_id --partitions 4 --sync batch -q "$ev"
  # Issue 13 (stricter than issue 4's 75% of the rate): at most 1.2 times the time of 1.
  id_target=$(awk -v n="$events" -v us="${best_us[produce]}" 'BEGIN { printf "%.0f", n / (1.2 * us / 1e6) }')
  add_row "pspf-produce as 1. plus --id-field event_id (every id checked, all new)" produce_id \
    "$events" "$ev_bytes" "$id_target" 64
  note "4b. the same file again into that topic: every event a duplicate"
  no_setup() { sync_fs; }
  measure produce_dup no_setup check_produce_id \
    "$bin/pspf-produce" -d "$data_id" inv --key-field item.id --id-field event_id --sync batch -q "$ev"
  add_row "pspf-produce --id-field event_id again: all $events left out as duplicates" produce_dup \
    "$events" "$ev_bytes" 0 0
  rm -rf -- "$data_id"
else
  skip_row "pspf-produce --id-field event_id" "this pspf-produce has no --id-field"
fi

# ---------------------------------------------------------------- peers
if [ "$peers" = 1 ]; then
  cat_out="$W/cat.out"
  note "5a. cat events > file; sync file"
  setup_cat() { rm -f -- "$cat_out" && sync_fs; }
  check_cat() { cmp -s -- "$cat_out" "$ev" || die "cat: output differs from input"; }
  # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
  measure cat setup_cat check_cat sh -c 'cat -- "$1" >"$2" && sync -- "$2"' sh "$ev" "$cat_out"
  add_row "peer: cat > file; sync file" cat "$events" "$ev_bytes" 0 0
  rm -f -- "$cat_out"

  if command -v sqlite3 >/dev/null; then
    db="$W/sqlite.db"
    sql="$W/sqlite-insert.sql"
    sqlite_import_script "$ev" >"$sql"
    setup_sqlite() { rm -f -- "$db" "$db-wal" "$db-shm" && sync_fs; }
    check_sqlite() {
      local n
      n=$(sqlite3 "$db" 'SELECT count(key) FROM ev')
      [ "$n" = "$events" ] || die "sqlite3: the table holds $n keyed rows, expected $events"
    }
    note "5b. sqlite3 insert (WAL, one transaction, synced commit)"
    T_IN=$sql
    measure sqlite_insert setup_sqlite check_sqlite sqlite3 "$db"
    T_IN=/dev/null
    add_row "peer: sqlite3 insert (WAL, 1 transaction, synchronous=FULL)" sqlite_insert "$events" "$ev_bytes" 0 0

    sq_out="$W/sqlite.out"
    setup_sq_out() { rm -f -- "$sq_out" && sync_fs; }
    check_sq_out() { cmp -s -- "$sq_out" "$ev" || die "sqlite3 select: output differs from input"; }
    note "5c. sqlite3 select > file"
    T_OUT=$sq_out
    measure sqlite_select setup_sq_out check_sq_out sqlite3 "$db" 'SELECT body FROM ev ORDER BY seq'
    T_OUT=/dev/null
    add_row "peer: sqlite3 SELECT body ORDER BY seq > file" sqlite_select "$events" "$ev_bytes" 0 0
    rm -f -- "$sq_out" "$db" "$db-wal" "$db-shm"
  else
    skip_row "peer: sqlite3" "sqlite3 not installed"
  fi

  if command -v jq >/dev/null; then
    note "5d. jq -c . events > /dev/null"
    measure jq no_setup no_check jq -c . "$ev"
    add_row "peer: jq -c . (DOM parse + print) > /dev/null" jq "$events" "$ev_bytes" 0 0
  else
    skip_row "peer: jq -c ." "jq not installed"
  fi

  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    note "5e. redis-server (127.0.0.1, no persistence): XADD via redis-cli --pipe"
    resp="$ev.resp"
    if [ ! -s "$resp" ]; then
      # XADD inv * key <item.id> value <line>, in the Redis protocol (untimed).
      bench_gen_xadd_resp "$ev" "$resp" || die "cannot write $resp"
    fi
    rdir="$W/redis"
    mkdir -p -- "$rdir"
    port=""
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      p=$((20000 + RANDOM % 40000))
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi # taken
      redis-server --bind 127.0.0.1 --port "$p" --protected-mode yes --save "" --appendonly no \
        --dir "$rdir" --logfile "$rdir/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
      redis_pid=$!
      for _ in $(seq 100); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null)" = PONG ]; then
          port=$p
          break
        fi
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.05
      done
      [ -n "$port" ] && break
      kill "$redis_pid" 2>/dev/null
      wait "$redis_pid" 2>/dev/null
      redis_pid=""
    done
    if [ -n "$port" ]; then
      setup_redis() { redis-cli -h 127.0.0.1 -p "$port" DEL inv >/dev/null || die "redis DEL failed"; }
      check_redis() {
        local n
        grep -q 'errors: 0,' "$W/redis.pipe" || die "redis-cli --pipe: $(cat "$W/redis.pipe")"
        n=$(redis-cli -h 127.0.0.1 -p "$port" XLEN inv)
        [ "$n" = "$events" ] || die "redis: the stream holds $n entries, expected $events"
      }
      T_IN=$resp
      T_OUT="$W/redis.pipe"
      measure redis setup_redis check_redis redis-cli -h 127.0.0.1 -p "$port" --pipe
      T_IN=/dev/null
      T_OUT=/dev/null
      # The figure that matters is the server's memory, not redis-cli's.
      hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$redis_pid/status" 2>/dev/null)
      peak_rss[redis]=$hwm
      kill "$redis_pid" 2>/dev/null
      wait "$redis_pid" 2>/dev/null
      redis_pid=""
      add_row "peer: Redis Streams XADD via redis-cli --pipe (server RSS)" redis "$events" "$ev_bytes" 0 0
    else
      skip_row "peer: Redis Streams" "could not start redis-server on 127.0.0.1 (see $rdir/redis.log)"
    fi
  else
    skip_row "peer: Redis Streams" "redis-server not installed (--with-peers-install installs it)"
  fi
fi

# ---------------------------------------------------------------- latency (issue 3)
if [ -x "$bin/pspf-consume" ] && [ -x "$repo/build/tests/bench/latency_probe" ]; then
  note "latency: tests/bench/latency.sh --events 300"
  latency_table=$("$repo/tests/bench/latency.sh" --events 300 --bin "$bin" \
    --probe "$repo/build/tests/bench/latency_probe") || die "latency.sh failed"
else
  # Say which of the two is missing: the probe is built only with the tests.
  if [ ! -x "$bin/pspf-consume" ]; then
    skip_row "end-to-end latency produce → consume" "no pspf-consume in $bin"
  else
    skip_row "end-to-end latency produce → consume" "no latency probe at $repo/build/tests/bench/latency_probe (build the tests)"
  fi
fi

# ---------------------------------------------------------------- report
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit+changes"
printf '%s events of %s bytes on average (%s bytes), %s; best of %s runs; %s cores, load %s; %s from %s (repository at %s); data in %s (%s)\n\n' \
  "$events" "$((ev_bytes / events))" "$ev_bytes" "$(date -u +%Y-%m-%dT%H:%MZ)" "$runs" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "${version:-pspf-produce ?}" "$bin" "$commit" "$W" "$(stat -f -c %T "$W")"
echo '| what | events/s | MiB/s | peak RSS MiB | target | vs target |'
echo '|---|---:|---:|---:|---|---|'
printf '%s\n' "${rows[@]}"
if [ -n "${latency_table:-}" ]; then
  printf '\nEnd-to-end latency, pspf-produce --sync none (one event) to a following pspf-consume printing it (target: median < 2 ms):\n\n%s\n' "$latency_table"
fi

if [ "$failed" = 1 ]; then
  note "some pspf targets were missed (see the table)"
  [ "$strict" = 1 ] && exit 1
fi
exit 0
