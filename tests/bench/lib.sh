# shellcheck shell=bash
# Helpers shared by the benchmark scripts of tests/bench/ (bench.sh, run.sh), sourced.
# Defines functions only; sets no options and starts nothing.

# bench_gen_events N FILE: writes N inventory-like JSON lines to FILE (through FILE.tmp,
# then a rename). Deterministic (fixed seed): 10,000 items, 500 users, 5 event types,
# about 116 bytes a line; event_id grows with the line number, so per-key order can be
# checked on the way out. Returns awk's or mv's status.
bench_gen_events() {
  awk -v n="$1" 'BEGIN {
    srand(42)
    nt = split("ITEM_CHECKED_IN ITEM_CHECKED_OUT ITEM_ADJUSTED ITEM_RESERVED ITEM_RELEASED", T, " ")
    for (i = 1; i <= n; i++)
      printf "{\"event_id\":\"e-%07d\",\"type\":\"%s\",\"item\":{\"id\":\"item-%d\",\"qty\":%d},\"user\":\"u%d\",\"ts\":%.0f}\n",
        i, T[int(rand() * nt) + 1], int(rand() * 10000), int(rand() * 20) + 1, int(rand() * 500),
        1764000000000 + i * 7
  }' >"$2.tmp" && mv -- "$2.tmp" "$2"
}

# bench_gen_xadd_resp EVENTS OUT: the Redis protocol text of `XADD inv * key <item.id>
# value <line>` for every line of EVENTS, for `redis-cli --pipe` (through OUT.tmp).
bench_gen_xadd_resp() {
  awk '{
    k = ""
    if (match($0, /"item":[{]"id":"[^"]*"/)) k = substr($0, RSTART + 14, RLENGTH - 15)
    printf "*7\r\n$4\r\nXADD\r\n$3\r\ninv\r\n$1\r\n*\r\n$3\r\nkey\r\n$%d\r\n%s\r\n$5\r\nvalue\r\n$%d\r\n%s\r\n",
      length(k), k, length($0), $0
  }' "$1" >"$2.tmp" && mv -- "$2.tmp" "$2"
}

# bench_free_port: prints a TCP port on 127.0.0.1 that nothing answers on now
# (random, 20000-59999). Returns 1 after 50 tries.
bench_free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# bench_wait_port PORT PID [TRIES]: waits until 127.0.0.1:PORT accepts a connection
# (checked every 20 ms, at most TRIES times, default 500 = 10 s). Returns 1 when PID
# died first or the time ran out.
bench_wait_port() {
  local i
  for ((i = 0; i < ${3:-500}; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

# The sqlite3 CLI script that loads the JSON lines of file $1 into table ev of a new
# database, in one transaction, WAL, synchronous=FULL (the commit is fsynced). The
# CLI's .import (ascii mode: one line is one field) stages the lines in a TEMP table;
# INSERT ... SELECT parses each with json_extract for the key, like pspf's --key-field.
sqlite_import_script() {
  cat <<EOF
.bail on
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE ev(seq INTEGER PRIMARY KEY, key TEXT, body TEXT NOT NULL);
CREATE TEMP TABLE raw(line TEXT);
.mode ascii
.separator "\\037" "\\n"
BEGIN;
.import "$1" raw
INSERT INTO ev(key, body) SELECT json_extract(line, '\$.item.id'), line FROM temp.raw;
COMMIT;
EOF
}
