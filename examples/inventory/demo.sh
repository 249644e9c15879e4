#!/usr/bin/env bash
# The inventory example, narrated: an event-sourced stock keeper in bash on a pspf log,
# with a SQLite projection kept by a worker. Builds pspf first (installing the Debian
# packages it needs when run as root), then creates items, races concurrent checkouts,
# refuses an overdraft, compensates one that slipped in through a plain import, kills
# the worker with SIGKILL amid 5,000 events, rebuilds the state from the log, and ends
# with verify.sh. Leaves its data in ${INVENTORY_DEMO_DIR:-/tmp/pspf-inventory-demo},
# which it wipes first, so it can be re-run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

echo "Building pspf (scripts/build.sh; installs missing Debian packages as root)..."
bin=$(bash "$here/../../scripts/build.sh" </dev/null | tail -n 1)
[ -x "$bin/pspf-produce" ] || { echo "demo.sh: build failed" >&2; exit 1; }
export PSPF_BIN=$bin
export PATH="$bin:$PATH"
export INVENTORY_DIR=${INVENTORY_DEMO_DIR:-/tmp/pspf-inventory-demo}
export PSPF_DIR="$INVENTORY_DIR/log"
rm -rf "$INVENTORY_DIR"
mkdir -p "$INVENTORY_DIR"
db="$INVENTORY_DIR/projection.db"

say() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$@"; }
# inv ARGS: runs the inventory command, showing it as typed; never stops the demo
inv() {
  printf '$ inventory %s\n' "$*"
  "$here/inventory" "$@" 2>&1 || printf '   (exit status %d)\n' "$?"
}
sql() { sqlite3 -cmd '.timeout 30000' "$@"; }
lag() { pspf-offsets describe -g inventory-projection --json | jq '[.[].lag] | add // 0'; }
# synced: waits until the worker has committed everything in the log (polls the lag)
synced() {
  local i
  for ((i = 0; i < 600; i++)); do
    [ "$(lag)" = 0 ] && return 0
    sleep 0.1
  done
  echo "demo.sh: the worker did not catch up" >&2
  exit 1
}
worker_pid=""
start_worker() {
  setsid "$here/inventory" worker >>"$INVENTORY_DIR/worker.log" 2>&1 &
  worker_pid=$!
}
trap '[ -z "$worker_pid" ] || kill -- "-$worker_pid" 2>/dev/null || true' EXIT

say "1. Three items. Each command appends one event to the topic 'inventory', keyed by item"
inv create item-alpha "Alpha widget"
inv create item-beta "Beta bolt" 25
inv create item-gamma "Gamma gear" 5
inv create item-alpha "Alpha again"
note "An item exists once: create appends with --expect-version no_stream."

say "2. The projection worker starts: pspf-consume -g inventory-projection --exec ..."
note "Each batch becomes one SQLite transaction: stock changes and the consumed"
note "offsets are committed together, so an event takes effect exactly once."
start_worker
inv checkin item-alpha 10 --user alice
inv checkout item-alpha 5 --user bob
synced
inv show

say "3. An overdraft is refused, and nothing is written"
inv checkout item-alpha 7 --user carol
inv checkout item-alpha 0
inv checkin item-nope 3
synced
inv show item-alpha

say "4. Twelve clerks take one Gamma gear each, at the same moment (stock 5)"
note "checkout reads the item's version and stock, then appends with"
note "pspf-produce --expect-version V; if someone got there first it re-reads and retries."
clerks=()
for i in $(seq 1 12); do
  "$here/inventory" checkout item-gamma 1 --user "clerk$i" >"$INVENTORY_DIR/clerk$i.out" 2>&1 &
  clerks+=("$!")
done
wait "${clerks[@]}" || true # (not the worker, also a child of this shell)
for i in $(seq 1 12); do printf '   clerk%-3s %s\n' "$i" "$(cat "$INVENTORY_DIR/clerk$i.out")"; done
synced
inv show item-gamma

say "5. A retried request is done once: the event id comes from --request-id"
inv checkout item-beta 2 --user dave --request-id order-1001
inv checkout item-beta 2 --user dave --request-id order-1001

say "6. An overdraft slips in through a plain import, without the optimistic check"
printf '$ pspf-produce inventory --key-field item_id < import.jsonl   # 40 Beta bolts, 23 in stock\n'
echo '{"event_id":"import-7","type":"ITEM_CHECKED_OUT","item_id":"item-beta","qty":40,"user_id":"legacy","request_id":"erp-7"}' |
  pspf-produce inventory --key-field item_id -q
synced
note "The worker did not apply it, and appended a CHECKOUT_REJECTED with the event"
note "id reject-import-7: restarts and replays never compensate twice."
inv history item-beta
inv show item-beta

say "7. A crash: the worker is killed with SIGKILL while applying 5,000 events"
jq -nc 'range(0; 5000) as $i
  | if $i % 2 == 0 then {event_id: "load-\($i)", type: "ITEM_CHECKED_IN", item_id: "item-beta", qty: 2, user_id: "loader"}
    else {event_id: "load-\($i)", type: "ITEM_CHECKED_OUT", item_id: "item-beta", qty: 1, user_id: "picker"} end' |
  pspf-produce inventory --key-field item_id --id-field event_id -q
total=$(pspf-replay inventory | wc -l)
applied=0
until [ "$applied" -ge 1500 ]; do
  sleep 0.05
  applied=$(sql "$db" "SELECT count(*) FROM events")
done
kill -9 -- "-$worker_pid"
wait "$worker_pid" 2>/dev/null || true
worker_pid=""
at_kill=$(sql "$db" "SELECT count(*) FROM events")
note "killed: $at_kill of $total events applied; a transaction in flight, if any, rolled back."
note "Restarting the worker: it resumes from the group's committed offsets and skips"
note "what the database already holds."
start_worker
synced
sql -box "$db" "SELECT (SELECT count(*) FROM events) AS applied_events,
  $(pspf-replay inventory | wc -l) AS events_in_log,
  (SELECT delivered FROM deliveries) - (SELECT count(*) FROM events) AS redelivered_and_skipped,
  (SELECT count(*) FROM overdrafts) AS overdrafts"
inv show item-beta

say "8. Replay: the projection rebuilt from the log (pspf-replay) equals the live one"
kill -- "-$worker_pid" 2>/dev/null || true
wait "$worker_pid" 2>/dev/null || true
worker_pid=""
inv rebuild
pspf-compact inventory -q
note "pspf-compact ran too (the default cleanup policy keeps every event)."
inv rebuild --check
inv show

say "9. The history of one item, from the log"
inv history item-alpha

say "10. The checks (examples/inventory/verify.sh)"
bash "$here/verify.sh"

printf '\nData left in %s (log in log/, projection in projection.db).\n' "$INVENTORY_DIR"
printf 'Try: INVENTORY_DIR=%s %s/inventory show\n' "$INVENTORY_DIR" "$here"
