#!/usr/bin/env bash
# verify.sh: the inventory example's checks, each printing PASS or FAIL with its
# numbers. Uses a fresh data folder (removed at the end unless VERIFY_KEEP=1) and the
# pspf commands of $PSPF_BIN or this repository's build/tools.
#   1  create 0, check in 10, check out 5, check out 7 refused: stock 5
#   2  20 parallel checkouts of 1 against stock 10: exactly 10 succeed, stock 0, the
#      log never below zero
#   3  kill -9 of the projection worker amid 10,000 events, restart: the projection
#      equals the rebuild from the log, no event applied twice
#   4  an overdraft imported with plain pspf-produce: the stock stays right and it gets
#      exactly one CHECKOUT_REJECTED, however often the worker restarts
#   5  pspf-compact and a full rebuild leave every stock unchanged
# Exit status: 0 if every check passed, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
inv="$here/inventory"
if [ -z "${PSPF_BIN:-}" ] && [ -x "$here/../../build/tools/pspf-produce" ]; then
  PSPF_BIN=$(cd "$here/../../build/tools" && pwd)
fi
if [ -n "${PSPF_BIN:-}" ]; then
  export PSPF_BIN
  export PATH="$PSPF_BIN:$PATH"
fi
for c in pspf-produce pspf-replay pspf-consume pspf-compact jq sqlite3 setsid flock; do
  command -v "$c" >/dev/null || { echo "verify.sh: $c not found" >&2; exit 1; }
done

INVENTORY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/inventory-verify.XXXXXX")
export INVENTORY_DIR
export PSPF_DIR="$INVENTORY_DIR/log"
db="$INVENTORY_DIR/projection.db"
worker_pid=""
cleanup() {
  if [ -n "$worker_pid" ]; then kill -9 -- "-$worker_pid" 2>/dev/null || true; fi
  if [ -n "${VERIFY_KEEP:-}" ]; then
    echo "verify.sh: data kept in $INVENTORY_DIR" >&2
  else
    rm -rf "$INVENTORY_DIR"
  fi
}
trap cleanup EXIT

failed=0
passed=0
check() { # N OK(true|false) TEXT
  if [ "$2" = true ]; then
    echo "PASS $1: $3"
    passed=$((passed + 1))
  else
    echo "FAIL $1: $3"
    failed=$((failed + 1))
  fi
}
is() { if [ "$1" = "$2" ]; then echo true; else echo false; fi; }
all() { # true if every argument is "true"
  local a
  for a in "$@"; do [ "$a" = true ] || { echo false; return; }; done
  echo true
}

sql() { sqlite3 -cmd '.timeout 30000' "$db" "$1"; }
# projection stock of ITEM ("none" when it is not there)
pstock() {
  local s
  s=$(sql "SELECT stock FROM items WHERE item_id = '$1'")
  echo "${s:-none}"
}
# stock of ITEM folded from the log
lstock() { pspf-replay inventory --key "$1" | jq -s -L "$here" 'include "inventory"; fold | .stock'; }
catch_up() { "$inv" worker --once 2>>"$INVENTORY_DIR/worker.log"; }
quiet() { "$@" >/dev/null 2>&1; }

t0=$SECONDS
# ---- 1 --------------------------------------------------------------------------
s=()
quiet "$inv" create item-alpha "Alpha widget" 0
catch_up; s+=("$(pstock item-alpha)")
quiet "$inv" checkin item-alpha 10 --user alice
catch_up; s+=("$(pstock item-alpha)")
quiet "$inv" checkout item-alpha 5 --user bob
catch_up; s+=("$(pstock item-alpha)")
rc=0
msg=$("$inv" checkout item-alpha 7 --user carol 2>&1) || rc=$?
catch_up; s+=("$(pstock item-alpha)")
l=$(lstock item-alpha)
check 1 "$(all "$(is "${s[*]}" "0 10 5 5")" "$(is "$rc" 3)" "$(is "$l" 5)" \
  "$(is "$msg" "inventory: insufficient stock: have 5, want 7")")" \
  "create 0 -> ${s[0]}, check in 10 -> ${s[1]}, check out 5 -> ${s[2]}, check out 7 -> exit $rc ($msg), still ${s[3]} (log: $l)"

# ---- 2 --------------------------------------------------------------------------
quiet "$inv" create item-par "Parallel part" 10
start=$SECONDS
pids=()
for i in $(seq 1 20); do
  "$inv" checkout item-par 1 --user "u$i" >"$INVENTORY_DIR/par.$i.out" 2>&1 &
  pids+=($!)
done
ok=0 refused=0 other=0
for p in "${pids[@]}"; do
  rc=0
  wait "$p" || rc=$?
  case $rc in 0) ok=$((ok + 1)) ;; 3) refused=$((refused + 1)) ;; *) other=$((other + 1)) ;; esac
done
l=$(lstock item-par)
low=$(pspf-replay inventory --key item-par | jq -s -L "$here" 'include "inventory"; naive_min')
appended=$(pspf-replay inventory --key item-par | jq -s 'map(select(.type == "ITEM_CHECKED_OUT")) | length')
catch_up
p=$(pstock item-par)
check 2 "$(all "$(is "$ok" 10)" "$(is "$refused" 10)" "$(is "$other" 0)" "$(is "$l" 0)" \
  "$(is "$p" 0)" "$(is "$low" 0)" "$(is "$appended" 10)")" \
  "20 parallel checkouts of 1 from 10 in $((SECONDS - start))s: $ok succeeded, $refused refused, $other other; $appended checkouts in the log; stock $l (projection $p); lowest stock in the log's history $low"

# ---- 3 --------------------------------------------------------------------------
# 10,000 valid events for 50 items: each item is created, then gets +3 and -2 in turn
jq -nc '
  range(0; 10000) as $i | ($i % 50) as $n | "bulk-\($n)" as $item | ($i / 50 | floor) as $round
  | if $round == 0 then {event_id: "bulk-\($i)", type: "ITEM_CREATED", item_id: $item, name: "Bulk \($n)", initial_qty: 0}
    elif $round % 2 == 1 then {event_id: "bulk-\($i)", type: "ITEM_CHECKED_IN", item_id: $item, qty: 3, user_id: "loader"}
    else {event_id: "bulk-\($i)", type: "ITEM_CHECKED_OUT", item_id: $item, qty: 2, user_id: "picker", request_id: "bulk-\($i)"} end' \
  >"$INVENTORY_DIR/bulk.jsonl"
pspf-produce inventory --key-field item_id --id-field event_id -q "$INVENTORY_DIR/bulk.jsonl"
total=$(pspf-replay inventory | wc -l)
setsid "$inv" worker --batch 200 >>"$INVENTORY_DIR/worker.log" 2>&1 &
worker_pid=$!
applied=0
deadline=$((SECONDS + 60))
# await partial progress (a condition, polled), then kill the worker's whole process
# group: pspf-consume, the batch's shell and sqlite3 in the middle of a transaction
until [ "$applied" -ge 3000 ] || [ $SECONDS -gt $deadline ]; do
  sleep 0.05
  applied=$(sql "SELECT count(*) FROM events" 2>/dev/null || echo 0)
done
# a random moment after that, so the kill often lands inside a batch
printf -v pause '0.%03d' $((RANDOM % 200))
sleep "$pause"
kill -9 -- "-$worker_pid"
wait "$worker_pid" 2>/dev/null || true
worker_pid=""
at_kill=$(sql "SELECT count(*) FROM events")
catch_up
after=$(sql "SELECT count(*) FROM events")
delivered=$(sql "SELECT delivered FROM deliveries")
dups=$(sql "SELECT count(*) FROM (SELECT event_id FROM events WHERE type = 'ITEM_CHECKED_OUT' OR type = 'ITEM_CHECKED_IN' GROUP BY event_id HAVING count(*) > 1)")
# then a worst case: the group rewound to the beginning, every event handed out again
before_rewind=$(sql "SELECT group_concat(item_id || '=' || stock) FROM items")
pspf-offsets reset -g inventory-projection --topic inventory --to-earliest --execute >/dev/null 2>&1
delivered0=$(sql "SELECT delivered FROM deliveries")
catch_up
redelivered=$(($(sql "SELECT delivered FROM deliveries") - delivered0))
after_rewind=$(sql "SELECT group_concat(item_id || '=' || stock) FROM items")
rewind_ok=$(all "$(is "$before_rewind" "$after_rewind")" "$(is "$(sql "SELECT count(*) FROM events")" "$total")")
rebuilt=$("$inv" rebuild --check 2>&1) && same=true || same=false
units=$(sql "SELECT sum(stock) FROM items WHERE item_id LIKE 'bulk-%'")
# the expected units: the generated checkins minus checkouts (all valid by construction)
want_units=$(jq -s 'map(if .type == "ITEM_CHECKED_IN" then .qty elif .type == "ITEM_CHECKED_OUT" then -.qty else 0 end) | add' "$INVENTORY_DIR/bulk.jsonl")
check 3 "$(all "$(is "$after" "$total")" "$same" "$rewind_ok" "$(is "$dups" 0)" "$(is "$units" "$want_units")" \
  "$([ "$at_kill" -lt "$total" ] && echo true || echo false)")" \
  "killed -9 with $at_kill of $total events applied; after restart $after applied ($((delivered - after)) re-delivered and skipped), $dups event ids applied twice; group rewound to the start: $redelivered events handed out again, stock $([ "$rewind_ok" = true ] && echo unchanged || echo CHANGED); bulk stock $units units (expected $want_units); ${rebuilt//$'\n'/; }"

# ---- 4 --------------------------------------------------------------------------
quiet "$inv" create item-over "Overdrawn gadget" 3
catch_up
# a plain import, without the optimistic check: 5 from a stock of 3, then a valid 1
printf '%s\n' \
  '{"event_id":"import-1","type":"ITEM_CHECKED_OUT","item_id":"item-over","qty":5,"user_id":"import","request_id":"imp-1"}' \
  '{"event_id":"import-2","type":"ITEM_CHECKED_OUT","item_id":"item-over","qty":1,"user_id":"import","request_id":"imp-2"}' |
  pspf-produce inventory --key-field item_id -q
rejects() {
  pspf-replay inventory --key item-over |
    jq -s 'map(select(.type == "CHECKOUT_REJECTED" and .rejects_event_id == "import-1")) | length'
}
seen=()
for _ in 1 2 3; do
  catch_up
  seen+=("$(pstock item-over)/$(rejects)")
done
# a worker killed after appending the CHECKOUT_REJECTED but before marking it done:
# the next one appends it again, and pspf drops the duplicate id
sql "UPDATE overdrafts SET compensated = 0"
catch_up
seen+=("$(pstock item-over)/$(rejects)")
l=$(lstock item-over)
r=$(rejects)
rebuilt=$("$inv" rebuild --check 2>&1) && same=true || same=false
check 4 "$(all "$(is "${seen[*]}" "2/1 2/1 2/1 2/1")" "$(is "$l" 2)" "$(is "$r" 1)" "$same")" \
  "stock 3, imported checkouts of 5 (overdraft) and 1: stock/CHECKOUT_REJECTED after 4 worker runs: ${seen[*]} (log: stock $l, $r CHECKOUT_REJECTED); ${rebuilt//$'\n'/; }"

# ---- 5 --------------------------------------------------------------------------
before=$(sql "SELECT group_concat(item_id || '=' || stock, ' ') FROM (SELECT * FROM items ORDER BY item_id)")
count_before=$(sql "SELECT count(*) FROM items")
pspf-compact inventory -q 2>/dev/null || pspf-compact inventory >/dev/null 2>&1
catch_up
"$inv" rebuild >/dev/null
after=$(sql "SELECT group_concat(item_id || '=' || stock, ' ') FROM (SELECT * FROM items ORDER BY item_id)")
check 5 "$(is "$before" "$after")" \
  "after pspf-compact and a full rebuild, $count_before items: stock $(if [ "$before" = "$after" ]; then echo unchanged; else echo CHANGED; fi) (item-alpha $(pstock item-alpha), item-par $(pstock item-par), item-over $(pstock item-over), bulk total $(sql "SELECT sum(stock) FROM items WHERE item_id LIKE 'bulk-%'"))"

echo "verify.sh: $passed passed, $failed failed in $((SECONDS - t0))s"
[ "$failed" -eq 0 ]
