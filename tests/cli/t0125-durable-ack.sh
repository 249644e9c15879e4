#!/usr/bin/env bash
# Acknowledged means durable (pspf-log(5), DURABILITY; pspf/durable_end.h):
#  1. An fdatasync that fails (EIO injected at each data sync in turn): the command
#     exits 1, and afterwards the log holds exactly the events it printed receipts
#     for: what the failed sync covered was cut, so a re-run with --id-field appends
#     it again instead of answering "duplicate_of" from bytes that may be lost.
#  2. A producer killed after writing its three batches, before their fdatasync
#     (at its third sync_file_range, which starts writeback), leaves unsynced records: the
#     re-run syncs them (a successful fdatasync in its trace) before it prints the
#     first receipt that answers from them, and every event ends up once.
#  3. The same with --producer-id: "skipped N lines" only after a sync.
#  4. While a producer sits in its fdatasync (delayed), a consumer group member sees
#     nothing of its batch: `pspf-consume -e` hands out only durable records.
#  5. After the sync the records are handed out, and with --sync none at once.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e inject=fdatasync:error=EIO:when=1 true 2>/dev/null ||
  skip "this strace cannot inject faults"

seq 1 3000 | jq -c '{id: ("e\(.)"), n: .}' >in.jsonl
ids() { jq -r '.id' | sort; }

# fresh: a topic of 3 partitions with each partition's durable end already
# published (one event each), so that the command under test makes no settling sync
# and its data syncs are the fdatasyncs of its trace.
fresh() {
  rm -rf "$PSPF_DIR"
  pspf-topics create t -P 3 >/dev/null
  for p in 0 1 2; do echo '{"id":"seed'$p'"}' | pspf-produce -q t -p "$p" --id-field id; done
}

# --- 1. EIO at the k-th data sync, for each k a clean run makes.
fresh
strace -f -o "$T/clean.trace" -e trace=fdatasync pspf-produce -q t --key-field id --id-field id \
  --sync batch in.jsonl
syncs=$(grep -c 'fdatasync(' "$T/clean.trace")
[ "$syncs" -ge 1 ] || fail "a clean run made no fdatasync"
for ((k = 1; k <= syncs; k++)); do
  fresh
  rc=0
  strace -f -o /dev/null -e inject=fdatasync:error=EIO:when="$k" \
    pspf-produce t --key-field id --id-field id --receipts --sync batch in.jsonl >r1.out 2>r1.err || rc=$?
  expect_eq 1 "$rc" "exit status with EIO at data sync $k"
  expect_contains r1.err "Input/output error" "the failure is named"
  # The log holds exactly the receipted events (and the seeds).
  jq -r 'select(.offset != null) | .key' r1.out | sort >receipted
  pspf-replay t | ids | grep -v '^seed' >inlog || true
  expect_same_file receipted inlog "log after EIO at sync $k = receipted events"
  # A re-run makes every event durable once; only receipted ones are duplicates.
  expect_exit 0 pspf-produce t --key-field id --id-field id --receipts --sync batch in.jsonl
  jq -r 'select(.duplicate_of != null) | .key' "$OUT" | sort >dups
  expect_same_file receipted dups "re-run after EIO at sync $k: duplicates are the receipted events"
  n=$(pspf-replay t | ids | grep -vc '^seed')
  expect_eq 3000 "$n" "events after the re-run (EIO at sync $k)"
done
echo "EIO at each of $syncs data syncs: checked"

# --- 2. Killed before its data sync: the re-run syncs before answering.
# first_receipt_after_sync TRACE: the trace (strace -y) shows a successful
# fdatasync of a segment before the first write to stdout (fd 1).
first_receipt_after_sync() {
  awk '
    /fdatasync\(.*\.log>\) += 0/ { synced = 1 }
    /write\(1[<,]/ { if (!synced) { bad = 1 }; exit }
    END { exit bad }' "$1"
}
fresh
rc=0
strace -f -o /dev/null -e inject=sync_file_range:signal=KILL:when=3 \
  pspf-produce t --key-field id --id-field id --receipts --sync batch in.jsonl >k1.out 2>/dev/null || rc=$?
expect_eq 137 "$rc" "killed before its data sync"
expect_empty k1.out "no receipt before the sync"
before=$(pspf-replay t | ids | grep -vc '^seed' || true)
[ "$before" -gt 0 ] || fail "the killed producer left no unsynced records to test with"
strace -f -y -o "$T/rerun.trace" -e trace=fdatasync,write pspf-produce t --key-field id --id-field id --receipts \
  --sync batch in.jsonl >k2.out
first_receipt_after_sync "$T/rerun.trace" || fail "a receipt was written before any successful fdatasync"
dups=$(jq -r 'select(.duplicate_of != null) | .key' k2.out | wc -l)
expect_eq "$before" "$dups" "duplicates answered from the dead producer's records"
n=$(pspf-replay t | ids | grep -vc '^seed')
expect_eq 3000 "$n" "every event once after the kill"

# --- 3. --producer-id: "skipped" only after a sync.
fresh
rc=0
strace -f -o /dev/null -e inject=sync_file_range:signal=KILL:when=3 \
  pspf-produce -q t --key-field id --producer-id imp --sync batch in.jsonl 2>/dev/null || rc=$?
expect_eq 137 "$rc" "killed before its data sync (--producer-id)"
strace -f -y -s 300 -o "$T/resume.trace" -e trace=fdatasync,write pspf-produce t --key-field id \
  --producer-id imp --sync batch in.jsonl >p2.out 2>p2.err
expect_contains p2.err "skipped" "the resumed run skips what the dead one appended"
awk '
  /fdatasync\(.*\.log>\) += 0/ { synced = 1 }
  /write\(2[<,].*skipped/ { if (!synced) bad = 1; exit }
  END { exit bad }' "$T/resume.trace" || fail "skipped lines reported before any successful fdatasync"
n=$(pspf-replay t | ids | grep -vc '^seed')
expect_eq 3000 "$n" "every event once after the resumed import"

# --- 4. A consumer sees nothing of a batch whose sync has not returned.
fresh
seq 1 100 | jq -c '{id: ("d\(.)")}' >small.jsonl
seg=$(segment_path t 0)
size0=$(stat -c %s "$seg")
bg_start strace -f -o /dev/null -e inject=fdatasync:delay_enter=6000000:when=1 \
  pspf-produce -q t -p 0 --sync batch small.jsonl
producer=$BG_PID
grown() { [ "$(stat -c %s "$seg")" -gt "$size0" ]; }
wait_until 20 "the producer's batch to be written" grown
expect_exit 0 pspf-consume -g g t -e
expect_lines 3 "$OUT" "only the seeds are handed out while the batch is unsynced"
kill -0 "$producer" 2>/dev/null || fail "the producer finished before the consumer ran: the check proved nothing"
wait "$producer"
expect_exit 0 pspf-consume -g g t -e
expect_lines 100 "$OUT" "the batch is handed out once synced"

# --- 5. --sync none publishes at once.
echo '{"id":"nosync"}' | pspf-produce -q t -p 1 --sync none
expect_exit 0 pspf-consume -g g t -e
expect_lines 1 "$OUT" "--sync none records are handed out"
echo ok
