#!/usr/bin/env bash
# Compatibility: a data directory written by the tools of format 1 (the checked-in
# fixture tests/compat/v1/, made by tests/compat/make-fixture.sh and never
# regenerated here) is read, verified, appended to, consumed from and compacted by
# this build with exactly the results it had when it was made: the same records,
# offsets and times, the group's commits and its pending announce, the key versions
# that count what compaction removed, the dedup and producer caches.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

FIX=$SRC_TOP/tests/compat/v1
[ -d "$FIX/data" ] || fail "no fixture at $FIX"
fixture_before=$(tree_digest "$FIX")
cp -a "$FIX/data" "$PSPF_DIR"

# Read: the topics, their records, the group's offsets, verify's report.
expect_exit 0 pspf-topics list
printf '%s\n' items orders orders.out >want
expect_same_file want "$OUT" "topics list"
for t in orders orders.out items; do
  expect_exit 0 pspf-replay -J "$t"
  expect_same_file "$FIX/expected/replay-$t.jsonl" "$OUT" "replay -J $t"
done
expect_exit 0 pspf-offsets describe -g billing --json
jq -c '.[] | del(.time_lag)' "$OUT" >describe
expect_same_file "$FIX/expected/describe-billing.jsonl" describe "offsets describe"
pspf-topics verify >verify.txt 2>&1 || { cat verify.txt >&2; fail "verify of the fixture failed"; }
expect_same_file "$FIX/expected/verify.txt" verify.txt "topics verify"

# Key versions from the key index, counting what compaction removed (items: s1 had
# 4 events, 2 of them removed; s0 3 events, 1 removed).
for kv in orders:c1:3 orders:c2:4 orders:c4:2 orders:c9:-1 items:s0:2 items:s1:3 items:s2:2; do
  IFS=: read -r t k v <<<"$kv"
  expect_exit 0 pspf-replay "$t" --key "$k" --current-version
  expect_eq "$v" "$(cat "$OUT")" "version of $k in $t"
done

# Consume: the group resumes from its commits, and the announced batch of partition
# 1 (offsets 6-7, announced with --batch 2) is handed out exactly as announced
# although --batch now allows 10; then the rest. Partition 0 has nothing new.
# shellcheck disable=SC2016  # expanded by the command's shell
expect_exit 0 pspf-consume -g billing orders -e --batch 10 --to orders.out \
  --out-key-field customer --exec \
  'echo "$PSPF_PARTITION $PSPF_FIRST_OFFSET $PSPF_LAST_OFFSET" >>batches; jq -c "select(.customer) | {customer, total}"'
printf '%s\n' "1 6 7" "1 8 9" >want
expect_same_file want batches "batches handed out"
expect_exit 0 pspf-replay -J orders.out -p 1 -o 3
jq -c '[.offset, .key, .id, .value.total]' "$OUT" >got
cat >want <<'EOF'
[3,"c1","billing/orders/1/6-7/0",5]
[4,"c2","billing/orders/1/6-7/1",6]
[5,"c1","billing/orders/1/8-9/0",7]
[6,"c2","billing/orders/1/8-9/1",8]
EOF
expect_same_file want got "orders.out after the resumed run"
expect_exit 0 pspf-offsets describe -g billing --json
expect_eq "0:3:0 1:10:0" "$(jq -r '[.[] | "\(.partition):\(.current_offset):\(.lag)"] | join(" ")' "$OUT")" \
  "group offsets after the resumed run"

# Append: a re-run of the import appends only its new line (producers.json is
# behind the log: caught up), a known id is a duplicate (ids.hix), an expected
# version holds or not (keys.hix).
import1() {
  printf '%s\n' '{"id":"o1","customer":"c1","total":12.5}' '{"id":"o2","customer":"c2","total":7}' \
    '{"id":"o3","customer":"c4","total":1e400}' '{"id":"o4","customer":"c1","total":-0}' \
    '{"id":"o14","customer":"c1","total":9}'
}
import1 | expect_exit 0 pspf-produce orders --key-field customer --id-field id \
  --producer-id import-1 --receipts
for i in 1 2 3 4; do
  echo '{"topic":"orders","skipped":"appended by an earlier run of producer import-1","line":'$i'}'
done >want
echo '{"topic":"orders","partition":1,"offset":10,"key":"c1","line":5}' >>want
expect_same_file want "$OUT" "receipts of the re-run import"
echo '{"id":"o5","customer":"c2","total":3}' |
  expect_exit 0 pspf-produce orders --key-field customer --id-field id --receipts
expect_eq '{"topic":"orders","partition":1,"duplicate_of":3,"key":"c2","line":1}' "$(cat "$OUT")" \
  "receipt of a known id"
echo '{"id":"o15","customer":"c2","total":1}' |
  expect_exit 0 pspf-produce orders --key-field customer --expect-version 4 --receipts
expect_eq 11 "$(jq .offset "$OUT")" "offset of the expected-version append"
echo '{"id":"o16","customer":"c2","total":1}' |
  expect_exit 3 pspf-produce orders --key-field customer --expect-version 4
expect_contains "$ERR" "key c2 is at version 5, expected 4"
echo '{"sku":"s2","qty":100}' | expect_exit 0 pspf-produce items --key-field sku --expect-version 2

# Compact: the fixture's tombstone of s1 is older than a day now, so it goes; s1
# keeps its version through removed-keys.
expect_exit 0 pspf-compact -q --roll items
expect_exit 0 pspf-replay -J items
jq -c '[.offset, .key, .value.qty]' "$OUT" >got
printf '%s\n' '[7,null,null]' '[9,"s0",80]' '[11,"s2",100]' >want
expect_same_file want got "items after compaction"
for kv in s0:2 s1:3 s2:3; do
  expect_exit 0 pspf-replay items --key "${kv%:*}" --current-version
  expect_eq "${kv#*:}" "$(cat "$OUT")" "version of ${kv%:*} after compaction"
done

expect_exit 0 pspf-topics verify
expect_eq "$(tree_digest "$FIX")" "$fixture_before" "the fixture itself is unchanged"
