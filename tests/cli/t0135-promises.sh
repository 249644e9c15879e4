#!/usr/bin/env bash
# Promises of pspf-produce(1) and friends that scripts rely on: receipts come in
# input order, one per line (skipped lines included), and name the line they are for.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

# --- receipts in input order ------------------------------------------------------
# 400 keyed lines over 4 partitions: receipt N is for input line N.
in=$T/keys.jsonl
for i in $(seq 1 400); do printf '{"k":"k%d","n":%d}\n' "$i" "$i"; done >"$in"
expect_exit 0 pspf-produce ord --key-field k --receipts -q "$in"
expect_lines 400 "$OUT" "receipts"
jq -r '"\(.line) \(.key)"' "$OUT" >"$T/got"
for i in $(seq 1 400); do printf '%d k%d\n' "$i" "$i"; done >"$T/want"
expect_same_file "$T/want" "$T/got" "receipts pair with the input lines"
# Each receipt's offset is where its record is.
jq -r '"\(.partition) \(.offset) \(.key)"' "$OUT" | sort >"$T/r"
expect_exit 0 pspf-replay ord -J
jq -r '"\(.partition) \(.offset) \(.key)"' "$OUT" | sort >"$T/l"
expect_same_file "$T/l" "$T/r" "receipts name the records"

# --skip-invalid: a skipped line gets a receipt saying so; two files are named.
printf '{"k":"a"}\nnot json\n\n{"k":"b"}\n' >"$T/one.jsonl"
printf '{"nokey":1}\n{"k":"c"}\n' >"$T/two.jsonl"
expect_exit 0 pspf-produce skip --key-field k --skip-invalid --receipts -q "$T/one.jsonl" "$T/two.jsonl"
jq -c '[.file, .line, .key, .skipped]' "$OUT" >"$T/got"
cat >"$T/want" <<EOT
["$T/one.jsonl",1,"a",null]
["$T/one.jsonl",2,null,"trailing characters after the JSON value"]
["$T/one.jsonl",4,"b",null]
["$T/two.jsonl",1,null,"key field k is missing or null"]
["$T/two.jsonl",2,"c",null]
EOT
expect_same_file "$T/want" "$T/got" "receipts of skipped lines"

# -q hides the summary, not the lines --skip-invalid skips (they are errors).
printf '{"k":"a"}\nnope\n' >"$T/q.jsonl"
expect_exit 0 pspf-produce quiet --key-field k --skip-invalid -q "$T/q.jsonl"
expect_contains "$ERR" "pspf-produce: skipped $T/q.jsonl:2: invalid JSON" "skipped line with -q"
expect_lines 1 "$ERR" "stderr with -q"

# --- errors say what happened -----------------------------------------------------
# A refused first line creates no topic.
expect_exit 65 pspf-produce never -q <<<'not json'
expect_exit 1 pspf-topics describe never
expect_contains "$ERR" "topic 'never' does not exist" "topic of a refused first line"
expect_exit 0 pspf-produce never -q </dev/null
expect_exit 1 pspf-topics describe never
# ... and the first appended batch creates it.
expect_exit 0 pspf-produce never --partitions 1 <<<'{"n":1}'
expect_contains "$ERR" "created topic never with 1 partition in " "created note"
expect_exit 0 pspf-topics describe never
expect_contains "$OUT" "topic never: 1 partition, " "describe of one partition"

# An object-valued id names the id field.
expect_exit 65 pspf-produce ids -q --id-field order_id <<<'{"order_id":{"a":1}}'
expect_contains "$ERR" "stdin:1: id field order_id is an object" "id field message"
expect_exit 65 pspf-produce ids -q --key-field order_id <<<'{"order_id":[1]}'
expect_contains "$ERR" "stdin:1: key field order_id is an array" "key field message"

# Index files after a crash: malformed .timeindex bytes are named as the
# .timeindex's; a .timeindex entry past the log end (a crash kept that page, not the
# log's) is dropped by the next writer, so verify passes without repair.
for i in $(seq 1 60); do printf '{"n":%d,"pad":"%0200d"}\n' "$i" 0; done >"$T/ix.jsonl"
expect_exit 0 pspf-produce stale --partitions 1 --sync always -q "$T/ix.jsonl"
tidx=$(segment_path stale 0 0 .timeindex)
[ "$(stat -c %s "$tidx")" -ge 24 ] || fail "too few time index entries for the test"
cp "$tidx" "$T/tidx"
printf 'xxxxx' >>"$tidx"
expect_exit 1 pspf-topics verify stale
expect_eq "topic stale partition 0: INDEX: $tidx: 5 bytes of malformed entries (out of order, or a partial entry) (pspf-topics repair stale rebuilds the indexes); 60 records, readable" \
  "$(cat "$OUT")" "verify of a partial .timeindex entry"
cp "$T/tidx" "$tidx"
# An entry in order, for offset 5000, long after the log's end (60).
perl -e 'print pack("q<L<", 4102444800000, 5000)' >>"$tidx"
expect_exit 1 pspf-topics verify stale
expect_contains "$OUT" "INDEX: $tidx: entry " "the stale entry is seen"
expect_exit 0 pspf-produce stale -q <<<'{"n":61}'
expect_exit 0 pspf-topics verify stale
expect_eq "topic stale partition 0: ok, 61 records" "$(cat "$OUT")" "verify after the next writer"

# --- input that must be refused, or defined ----------------------------------------
# Whitespace-only lines are skipped like empty ones (no record, no receipt).
printf '{"n":1}\n   \n\t\n \r\n{"n":2}\n' >"$T/ws.jsonl"
expect_exit 0 pspf-produce ws --partitions 1 --receipts -q "$T/ws.jsonl"
expect_eq "1 5" "$(jq -r .line "$OUT" | paste -sd' ')" "receipts around blank lines"
expect_exit 0 pspf-replay ws
expect_eq '{"n":1}|{"n":2}' "$(paste -sd'|' "$OUT")" "blank lines skipped"

# Duplicate envelope fields are refused (exit 65), whichever field.
for dup in '{"value":7,"value":8}' '{"key":"a","value":1,"key":"b"}' '{"value":1,"headers":{},"headers":{"a":"b"}}'; do
  expect_exit 65 pspf-produce env -J -q <<<"$dup"
  expect_contains "$ERR" "appears more than once" "duplicate envelope field in $dup"
done
expect_exit 1 pspf-topics describe env

# A dot path: '.' goes into objects, '\.' is a literal dot; member order does not matter.
printf '%s\n' '{"item.id":"lit","item":{"id":"nested"}}' '{"item":{"id":"nested"},"item.id":"lit"}' \
  '{"a\\b":{"c":"bs"},"item":{"id":"x"},"item.id":"y"}' >"$T/dots.jsonl"
expect_exit 0 pspf-produce dots --partitions 1 --key-field item.id --receipts -q "$T/dots.jsonl"
expect_eq "nested nested x" "$(jq -r .key "$OUT" | paste -sd' ')" "item.id is a path"
expect_exit 0 pspf-produce dots --key-field 'item\.id' --receipts -q "$T/dots.jsonl"
expect_eq "lit lit y" "$(jq -r .key "$OUT" | paste -sd' ')" "item\\.id is a member"
expect_exit 0 pspf-produce dots --key-field 'a\\b.c' --allow-missing-key --receipts -q "$T/dots.jsonl"
expect_eq "null null bs" "$(jq -r .key "$OUT" | paste -sd' ')" "a\\\\b.c"
expect_exit 2 pspf-produce dots --key-field 'a\b' -q "$T/dots.jsonl"
expect_contains "$ERR" "invalid field path 'a\b'" "a backslash before a letter"

# Repeated headers are kept, in order (as Kafka does).
expect_exit 0 pspf-produce hdr --partitions 1 -H a=1 -H a=2 -H b=3 -q <<<'{"x":1}'
expect_exit 0 pspf-replay hdr -J
expect_contains "$OUT" '"headers":{"a":"1","a":"2","b":"3"}' "repeated -H"

# Impossible dates and zones are usage errors.
expect_exit 0 pspf-produce dates --partitions 1 -q <<<'{"n":1}'
for t in @2026-02-30 @2026-02-29 @2025-04-31 @2026-01-01T00:00:00+99:99 @2026-01-01T00:00:00+24:00 @2026-01-01T00:00:00-01:60; do
  expect_exit 2 pspf-replay dates --from "$t"
  expect_contains "$ERR" "pspf-replay: error: invalid date-time" "$t"
done
for t in @2024-02-29 @2026-01-01T00:00:00+14:00 @2026-01-01T00:00:00-23:59; do
  expect_exit 0 pspf-replay dates --from "$t"
done

# Topic and group names beginning with '.' are refused.
expect_exit 2 pspf-topics create .hidden -P 1
expect_contains "$ERR" "invalid topic name '.hidden': it begins with '.'" "dot topic"
expect_exit 2 pspf-offsets commit -g .g --topic dates -p 0 --offset 0
expect_contains "$ERR" "invalid group name '.g': it begins with '.'" "dot group"

# A commit offset beyond int64 is refused, not saturated.
expect_exit 2 pspf-offsets commit -g g --topic dates -p 0 --offset 99999999999999999999
expect_contains "$ERR" "99999999999999999999" "huge offset"
expect_exit 2 pspf-offsets reset -g g --topic dates --to-offset 99999999999999999999

# A topic.json followed by NUL bytes is refused, naming the file.
meta=$PSPF_DIR/topics/dates/topic.json
cp "$meta" "$T/meta"
head -c 64 /dev/zero >>"$meta"
expect_exit 1 pspf-replay dates
expect_contains "$ERR" "$meta: not a valid topic file: a NUL byte at byte $(stat -c %s "$T/meta")" "NUL-padded topic.json"
cp "$T/meta" "$meta"
expect_exit 0 pspf-replay dates

# --- commands and pages agree -------------------------------------------------------
# -d after the subcommand works for pspf-topics as for pspf-offsets.
expect_exit 0 pspf-topics list -d "$PSPF_DIR"
expect_contains "$OUT" "dates" "topics list -d after the command"
expect_exit 0 pspf-topics describe dates -d "$PSPF_DIR"
# A bad subcommand is named, with the valid ones.
expect_exit 2 pspf-offsets bogus
expect_contains "$ERR" "pspf-offsets: error: unknown command 'bogus' (the commands are list, describe, reset, commit, delete)" "offsets bogus"
expect_exit 2 pspf-topics bogus
expect_contains "$ERR" "pspf-topics: error: unknown command 'bogus' (the commands are create, alter, list, describe, delete, verify, repair)" "topics bogus"
expect_exit 2 pspf-topics
expect_not_contains "$ERR" "unknown command" "no command at all"

# The copy recipe of the README and pspf-produce(1) keeps every record in its
# partition and at its offset, for a topic of 3 partitions.
expect_exit 0 pspf-topics create src3 -P 3
for i in $(seq 1 60); do printf '{"k":"key%d","n":%d}\n' "$i" "$i"; done >"$T/src3.jsonl"
expect_exit 0 pspf-produce src3 --key-field k -H h=1 -q "$T/src3.jsonl"
pspf-topics create copy3 -P "$(pspf-topics describe src3 --json | jq .partitions)" 2>/dev/null ||
  fail "creating the copy"
pspf-replay src3 -J | pspf-produce copy3 -J -q || fail "the copy pipeline"
expect_exit 0 pspf-replay src3 -J
jq -c '[.partition,.offset,.key,.headers,.value]' "$OUT" | sort >"$T/src3.got"
expect_exit 0 pspf-replay copy3 -J
jq -c '[.partition,.offset,.key,.headers,.value]' "$OUT" | sort >"$T/copy3.got"
expect_lines 60 "$T/copy3.got" "records copied"
expect_same_file "$T/src3.got" "$T/copy3.got" "a copy of a 3-partition topic"

echo "ok"
