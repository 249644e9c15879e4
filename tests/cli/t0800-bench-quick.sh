#!/usr/bin/env bash
# The peer benchmark's smoke test: tests/bench/run.sh --quick (100,000 events, one run)
# works and its outputs are right: bench-results.md has every row, each figure is a
# number, a peer may be skipped but pspf and the floor never, bench-results.png is a
# PNG, and pspf's log replays to exactly its input. Not the speed. It installs no
# Debian package (--no-apt); a peer that is not there is a "skipped" row. The Kafka
# rows (pspf -b and kcat on the mock cluster) are there in any case, and measured
# when this build has the Kafka backend (tests/pspf-mock-kafka) and kcat is installed.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian package gnuplot-nox)"
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
run="$SRC_TOP/tests/bench/run.sh"

if command -v shellcheck >/dev/null; then
  # From the top of the tree, where the scripts' "shellcheck source=" paths start.
  (cd "$SRC_TOP" && expect_exit 0 shellcheck -x tests/bench/*.sh tests/cli/t0800-bench-quick.sh)
fi

expect_exit 2 bash "$run" --runs 0
expect_contains "$ERR" "--runs wants a whole number"

# run.sh names what went wrong last (a FAILED Kafka row, say): show the end of its stderr.
bash "$run" --quick --no-apt --bin "$PSPF_BIN" --out "$T/out" --work "$T/work" >"$T/run.out" 2>"$T/run.err" || {
  rc=$?
  tail -n 15 "$T/run.err" >&2
  fail "run.sh --quick exited $rc, expected 0 (the end of its stderr is above)"
}
md="$T/out/bench-results.md"
png="$T/out/bench-results.png"
[ -s "$md" ] || fail "no $md"
expect_contains "$md" "100000 events"
expect_contains "$md" "Reproduce: "
# shellcheck disable=SC2016  # the backquotes are Markdown
grep -Eq '^`pspf-produce --id-field` took [0-9]+[.][0-9]{2}× the time of the same import without ids' "$md" ||
  fail "bench-results.md does not give --id-field's time against plain pspf-produce"
# shellcheck disable=SC2016
grep -Eq ' `pspf-replay` took [0-9]+[.][0-9]{2}× the time of `pspf-replay --no-merge`' "$md" ||
  fail "bench-results.md does not give the merge's cost"

# Every row is there, once: "operation|system" (the system as printed, pspf in bold).
rows="$T/rows"
awk -F' [|] ' '/^[|] [a-z]/ && !/^[|] operation/ { sub(/^[|] /, ""); sub(/ (↑|↓)$/, "", $1); print $1 "|" $2 }' \
  "$md" >"$rows"
want=()
for op in "ingest, events/s" "peak RSS while ingesting, MiB" "bytes on disk per event"; do
  for sys in "**pspf-produce**" "sqlite3 CLI (.import)" "SQLite C API, FULL" "Redis AOF always" \
    "Redis AOF everysec" "NATS JetStream" "floor: cat > file; sync file"; do
    want+=("$op|$sys")
  done
done
for op in "ingest, events/s" "peak RSS while ingesting, MiB" "bytes on disk per event"; do
  want+=("$op|**pspf-produce --id-field**")
done
for sys in "**pspf-produce --sync none**" "SQLite C API, OFF" "floor: dd bs=1M conv=fsync"; do
  want+=("ingest, events/s|$sys" "peak RSS while ingesting, MiB|$sys")
done
for sys in "**pspf-replay > file**" "**pspf-replay --no-merge > file**" "**pspf-consume -e > file**" \
  "sqlite3 CLI SELECT" "SQLite C API SELECT" \
  "Redis XRANGE" "Redis XREADGROUP + XACK" "NATS pull consumer + ack" "floor: cat file > file"; do
  want+=("read-out, events/s|$sys")
done
for sys in "**pspf-produce**" "redis-cli XADD" "sqlite3 INSERT" "floor: dd oflag=append conv=fsync" \
  "floor: /bin/echo >> file"; do
  want+=("one process per event, ms|$sys")
done
for sys in "**pspf-produce --version**" "**pspf-replay --current-version (key index)**" \
  "**pspf-replay --current-version (no index)**" "**pspf-replay --key K**" "floor: /bin/true" \
  "floor: /bin/echo"; do
  want+=("one process: start-up, one key lookup, ms|$sys")
done
kafka_rows=()
for sys in "**pspf-produce -b (mock Kafka)**" "**pspf-produce -b --key-field (mock Kafka)**" \
  "kcat -P (mock Kafka)" "kcat -P -K (mock Kafka)"; do
  kafka_rows+=("ingest, events/s|$sys" "peak RSS while ingesting, MiB|$sys")
done
for sys in "**pspf-replay -b (mock Kafka)**" "**pspf-replay -b --no-merge (mock Kafka)**" \
  "**pspf-consume -b -e (mock Kafka)**" "kcat -C -e (mock Kafka)" "kcat -G -e (mock Kafka)"; do
  kafka_rows+=("read-out, events/s|$sys")
done
want+=("${kafka_rows[@]}")
for p in p50 p99; do
  for sys in "**pspf produce → consume**" "**pspf produce --sync batch → consume**" \
    "Redis XADD → XREADGROUP" "NATS publish → consumer"; do
    want+=("end-to-end latency $p, ms|$sys")
  done
done
for w in "${want[@]}"; do
  n=$(awk -v w="$w" 'index($0, w) == 1' "$rows" | wc -l)
  [ "$n" -eq 1 ] || fail "bench-results.md has $n rows for [$w], expected 1"
done
expect_eq "${#want[@]}" "$(wc -l <"$rows")" "rows in bench-results.md"

# Figures are numbers; only peers may be skipped (and the Kafka rows, when they
# cannot run); pspf rows carry both ratios (the one to the best peer when a peer of
# the operation was measured).
kafka_ok=1
[ -x "$PSPF_BIN/../tests/pspf-mock-kafka" ] && command -v kcat >/dev/null || kafka_ok=0
awk -F' [|] ' -v kafka_ok="$kafka_ok" '/^[|] [a-z]/ && !/^[|] operation/ {
    sys = $2
    if ($4 ~ /^skipped: / && !kafka_ok && sys ~ /[(]mock Kafka[)]/) next
    if ($4 ~ /^skipped: /) {
      if (sys ~ /^[*][*]/ || sys ~ /^floor: / || sys ~ /[(]mock Kafka[)]/) { print "skipped: " $0; exit 1 }
      next
    }
    for (i = 4; i <= 6; i++)
      if ($i !~ /^[0-9][0-9,]*([.][0-9]+)?(e[-+]?[0-9]+)?$/) { print "not a number (" $i "): " $0; exit 1 }
    if (sys ~ /^[*][*]/ && $7 !~ /[0-9.]+× (better|worse)/) noratio[$1] = $0
    if (sys !~ /^[*][*]/ && sys !~ /^floor: / && sys !~ /[(]mock Kafka[)]/) measured[$1] = 1
  }
  END {
    for (op in noratio)
      if (op in measured) { print "no ratio to the best peer: " noratio[op]; exit 1 }
  }' "$md" >"$T/bad" || fail "$(cat "$T/bad")"
skipped=$(grep -c 'skipped: ' "$md" || true)
echo "rows: ${#want[@]}, of which skipped: $skipped (Kafka rows measured: $kafka_ok)"

# The chart is a PNG.
[ -s "$png" ] || fail "no $png"
expect_eq "89504e470d0a1a0a" "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" "PNG signature of $png"

# pspf's log (kept in the work folder) replays to its input: the same lines, each
# key's events in input order.
input="$T/work/pspf-input.jsonl"
[ -s "$input" ] || fail "no $input"
expect_eq 100000 "$(wc -l <"$input")" "events in the input"
pspf-replay -d "$T/work/pspf-data" inv >"$T/replayed"
expect_eq 100000 "$(wc -l <"$T/replayed")" "events replayed"
cmp -s <(sort "$T/replayed") <(sort "$input") || fail "pspf-replay prints other lines than the input"
for f in "$input" "$T/replayed"; do
  awk '{ match($0, /"item":[{]"id":"[^"]*"/); print substr($0, RSTART + 14, RLENGTH - 15) "\t" NR "\t" $0 }' "$f" |
    sort -t "$(printf '\t')" -k1,1 -k2,2n -s | cut -f1,3 >"$f.bykey"
done
cmp -s "$input.bykey" "$T/replayed.bykey" || fail "pspf-replay changed the order of some key's events"
echo "ok: bench-results.md complete, chart is a PNG, replay = input"
