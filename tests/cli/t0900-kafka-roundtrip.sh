#!/usr/bin/env bash
# The commands against a Kafka cluster (librdkafka's mock cluster, 3 brokers on
# 127.0.0.1): a produce/replay round trip keeps keys, ids, headers, tombstones and
# JSON exactly; ranges, time seeks, --key and the merge work as on the local log;
# kcat (an independent client) reads what pspf-produce wrote and pspf-consume reads
# what kcat wrote; 10,000 keys land on the same partition numbers as in the local
# log; a local topic moves in, times included, with `pspf-replay -J | pspf-produce
# -b -J`; and what
# Kafka cannot do is refused with exit 2 and a reason.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/cli/kafka_lib.sh
. "$TESTS_CLI_DIR/kafka_lib.sh"
command -v kcat >/dev/null || skip "kcat is not installed"
kafka_start 3 t:4 keys:8 moved:3 fromkcat:2 src:3 two:2 order:3 one:1

# --- round trip ----------------------------------------------------------------------
cat >"$T/in.jsonl" <<'JSON'
{"item":{"id":"a"},"n":1,"s":"àé 中文 😀 \"q\" \\ \u0001"}
{"item":{"id":"b"},"n":2,"big":123456789012345678901234567890,"f":1.0,"neg":-0}
{"item":{"id":"a"},"n":3,"nested":[{"x":[1,2,{"y":null}]}],"e":{}}
{"item":{"id":"c"},"n":4,"t":true}
{"item":{"id":"a"},"n":5}
JSON
expect_exit 0 pspf-produce -b "$B" --key-field item.id --id-field n -H src=test -H "sp=a b" t "$T/in.jsonl"
expect_contains "$ERR" "appended 5 events to topic t"
# A tombstone (null value) through an envelope.
expect_exit 0 pspf-produce -b "$B" -J t <<<'{"key":"c","id":"gone-c","headers":{},"value":null}'

expect_exit 0 pspf-replay -b "$B" t -J
cp "$OUT" "$T/all.json"
expect_lines 6 "$T/all.json" "replay -J"
jq -c '{key, id, headers, value}' "$T/all.json" | sort >"$T/got"
{
  jq -c '{key: .item.id, id: (.n | tostring), headers: {src: "test", sp: "a b"}, value: .}' "$T/in.jsonl"
  echo '{"key":"c","id":"gone-c","headers":{},"value":null}'
} | sort >"$T/want"
expect_same_file "$T/want" "$T/got" "records read back"
# Values come back byte for byte (numbers beyond 64 bits, 1.0, -0, escapes).
expect_exit 0 pspf-replay -b "$B" t --key b
expect_eq "$(sed -n 2p "$T/in.jsonl")" "$(cat "$OUT")" "value of key b"
# Each key in its murmur2 partition, in the order produced.
expect_exit 0 pspf-replay -b "$B" t --key a
expect_eq "1 3 5" "$(jq -r .n "$OUT" | paste -sd' ')" "--key a"
expect_eq "1" "$(jq -r 'select(.key == "a") | .partition' "$T/all.json" | sort -u | wc -l)" "key a in one partition"

# pspf-topics describe: each partition's offsets and event times, from the cluster.
expect_exit 0 pspf-topics -b "$B" describe t --json
expect_eq "$(jq -r .partition "$T/all.json" | sort | uniq -c | awk '{print $2 ":" $1}' | paste -sd' ')" \
  "$(jq -r '.partition_details[] | select(.end > 0) | "\(.partition):\(.end)"' "$OUT" | paste -sd' ')" \
  "describe: the end offset of each partition"
expect_eq "$(jq -s -r 'map(.timestamp) | min' "$T/all.json")" \
  "$(jq -r '[.partition_details[] | select(.end > 0) | .first_append] | min' "$OUT")" "describe: first append"

# --- ranges ----------------------------------------------------------------------------
pa=$(jq -r 'select(.key == "a") | .partition' "$T/all.json" | head -n 1)
expect_exit 0 pspf-replay -b "$B" t -p "$pa" --from 1 --until 2 -J
expect_eq "1" "$(jq -r .offset "$OUT" | paste -sd' ')" "-p $pa --from 1 --until 2"
expect_exit 0 pspf-replay -b "$B" t -o -1 -J
expect_eq "$(jq -r .partition "$T/all.json" | sort -u | paste -sd' ')" \
  "$(jq -r .partition "$OUT" | sort | paste -sd' ')" "-o -1: one event of each non-empty partition"
expect_exit 0 pspf-replay -b "$B" t --no-merge -J
jq -r '"\(.partition) \(.offset)"' "$OUT" >"$T/order"
sort -n -k1,1 -k2,2 "$T/order" | cmp -s - "$T/order" || fail "--no-merge: not partition by partition"
expect_exit 0 pspf-replay -b "$B" t -c 2
expect_lines 2 "$OUT" "-c 2"

# --- time seeks (offsetsForTimes) -------------------------------------------------------
# librdkafka 2.0's mock cluster answers every lookup by time with "no such offset"
# (its ListOffsets does not search by timestamp), where a real broker finds the first
# event at or after the time. So pspf is checked against kcat, which asks the same
# question: both must pick the same events, on the mock or on a real cluster.
t0=$(now_ms)
wait_clock_past "$t0"
printf '%s\n' '{"item":{"id":"d"},"late":1}' '{"item":{"id":"e"},"late":2}' |
  pspf-produce -b "$B" --key-field item.id -q t
expect_exit 0 pspf-replay -b "$B" t --from "@$((t0 + 1))"
sort "$OUT" >"$T/got"
kcat -b "$B" -C -t t -o "s@$((t0 + 1))" -e -q -f '%s\n' | sort >"$T/want"
expect_same_file "$T/want" "$T/got" "--from @time, as kcat -o s@time"
expect_exit 0 pspf-replay -b "$B" t --until "@$(($(now_ms) + 3600000))"
expect_lines 8 "$OUT" "--until a time after every event"
expect_exit 0 pspf-replay -b "$B" t --from "@$(($(now_ms) + 3600000))"
expect_empty "$OUT" "--from a time after every event"

# --- kcat reads pspf's events; pspf reads kcat's ------------------------------------------
kcat -b "$B" -C -t t -e -q -f '%k\t%s\t%h\n' >"$T/kcat.out"
expect_lines 8 "$T/kcat.out" "kcat -C"
grep -qF "$(printf 'b\t%s\t' "$(sed -n 2p "$T/in.jsonl")")" "$T/kcat.out" || fail "kcat: key b and its value"
grep -qF "pspf-id=2,src=test,sp=a b" "$T/kcat.out" || fail "kcat: headers of n=2: $(grep -F '"n":2' "$T/kcat.out")"
printf 'k1\t{"x":1}\nk2\tnot json at all\n' | kcat -b "$B" -P -t fromkcat -K $'\t' -H origin=kcat
expect_exit 0 pspf-consume -b "$B" "${KAFKA_GROUP_X[@]}" -g from-kcat fromkcat -e -J
jq -c '{key, headers, value}' "$OUT" | sort >"$T/got"
printf '%s\n' '{"key":"k1","headers":{"origin":"kcat"},"value":{"x":1}}' \
  '{"key":"k2","headers":{"origin":"kcat"},"value":"not json at all"}' >"$T/want"
expect_same_file "$T/want" "$T/got" "pspf-consume of kcat's events"

# --- the same partition as the local log, for 10,000 keys ---------------------------------
seq 1 10000 | sed 's/.*/{"k":"key-&"}/' >"$T/keys.jsonl"
pspf-produce -q --partitions 8 --key-field k keys "$T/keys.jsonl"
pspf-produce -q -b "$B" --key-field k keys "$T/keys.jsonl"
pspf-replay keys -J | jq -r '"\(.key) \(.partition)"' | sort >"$T/local.map"
pspf-replay -b "$B" keys -J | jq -r '"\(.key) \(.partition)"' | sort >"$T/kafka.map"
expect_lines 10000 "$T/kafka.map" "keys in Kafka"
expect_same_file "$T/local.map" "$T/kafka.map" "key -> partition, local and Kafka"
expect_eq 8 "$(cut -d' ' -f2 "$T/kafka.map" | sort -u | wc -l)" "partitions used"

# --- input order, through a full librdkafka queue ----------------------------------------
# Plain records go to librdkafka hundreds at a time, records with an id (a header)
# one by one, and a queue of 64 records is full at once: each partition must still
# hold its records once each, in input order.
seq 1 20000 | awk '{
    if ($1 % 7 == 0) printf "{\"k\":\"k%d\",\"n\":%d,\"id\":\"i%d\"}\n", $1 % 13, $1, $1
    else printf "{\"k\":\"k%d\",\"n\":%d}\n", $1 % 13, $1
  }' >"$T/order.jsonl"
expect_exit 0 pspf-produce -b "$B" --key-field k --id-field id -X queue.buffering.max.messages=64 \
  order "$T/order.jsonl"
expect_contains "$ERR" "appended 20000 events to topic order"
pspf-replay -b "$B" order --no-merge -J | jq -r '"\(.partition) \(.value.n) \(.id)"' >"$T/order.got"
expect_lines 20000 "$T/order.got" "records of topic order"
expect_eq 20000 "$(cut -d' ' -f2 "$T/order.got" | sort -u | wc -l)" "distinct records of topic order"
expect_eq 2857 "$(grep -c ' i[0-9]*$' "$T/order.got")" "records with an id"
awk '$2 <= last[$1] { print "partition " $1 ": " $2 " after " last[$1]; bad = 1 } { last[$1] = $2 }
  END { exit bad }' "$T/order.got" >"$T/order.bad" || fail "not in input order: $(head -n 3 "$T/order.bad")"

# pspf-produce looks its topic up through the client it then produces with: one
# client (librdkafka names each rdkafka#producer-N in its debug lines), not two.
expect_exit 0 pspf-produce -b "$B" -X debug=generic one <<<'{"one":"client"}'
expect_eq "rdkafka#producer-1" "$(grep -o 'rdkafka#[a-z]*-[0-9]*' "$ERR" | sort -u | paste -sd' ')" \
  "librdkafka clients of one pspf-produce"
expect_exit 0 pspf-replay -b "$B" one
expect_eq '{"one":"client"}' "$(cat "$OUT")" "the event produced through that client"

# --- moving a local topic in ------------------------------------------------------------
pspf-produce -q --partitions 3 --key-field item.id --id-field n -H from=local src "$T/in.jsonl"
pspf-produce -q -J src <<<'{"key":"z","id":"tomb","headers":{"h":"1"},"value":null}'
pspf-replay src -J | pspf-produce -b "$B" -J -q moved
pspf-replay src -J | jq -c '{partition, offset, timestamp, key, id, headers, value}' | sort >"$T/want"
pspf-replay -b "$B" moved -J | jq -c '{partition, offset, timestamp, key, id, headers, value}' | sort >"$T/got"
expect_same_file "$T/want" "$T/got" "a local topic moved to Kafka, times included"
# In one step: pspf-replay --to-brokers keeps each event's partition, keyless ones too.
pspf-produce -q src <<<'{"keyless":true}'
n=$(pspf-replay src | wc -l)
expect_exit 0 pspf-replay src --to-brokers "$B" -X pspf.timeout.ms=10000
expect_contains "$ERR" "copied $n events of topic src to Kafka cluster $B"
expect_empty "$OUT" "stdout of --to-brokers"
pspf-replay src -J | jq -c '{partition, offset, timestamp, key, id, headers, value}' | sort >"$T/want"
pspf-replay -b "$B" src -J | jq -c '{partition, offset, timestamp, key, id, headers, value}' | sort >"$T/got"
expect_same_file "$T/want" "$T/got" "a local topic copied with --to-brokers: partitions, offsets, times"
# A cluster topic with another partition count is refused before anything is written.
pspf-produce -q --partitions 3 two <<<'{"a":1}'
expect_exit 1 pspf-replay two --to-brokers "$B"
expect_contains "$ERR" "topic two has 2 partitions, the local one 3"
expect_exit 0 pspf-replay -b "$B" two
expect_empty "$OUT" "events copied into a topic of another partition count"
expect_exit 2 pspf-replay -b "$B" src --to-brokers "$B"
expect_contains "$ERR" "--to-brokers copies a local topic"
expect_exit 2 pspf-replay src -J --to-brokers "$B"
expect_contains "$ERR" "leave out -J"

# --- what Kafka cannot do: refused before anything is written --------------------------
expect_exit 2 pspf-produce -b "$B" -k a --expect-version 0 t <<<'{"v":1}'
expect_contains "$ERR" "Kafka has no per-key version check"
expect_exit 2 pspf-produce -b "$B" --producer-id p1 t <<<'{"v":1}'
expect_contains "$ERR" "--producer-id needs the local log"
expect_exit 2 pspf-replay -b "$B" t --key a --current-version
expect_contains "$ERR" "Kafka keeps no per-key version"
expect_exit 2 pspf-compact -b "$B" t
expect_contains "$ERR" "cleanup.policy=compact"
expect_exit 0 pspf-replay -b "$B" t
expect_lines 8 "$OUT" "nothing was written by the refused commands"
expect_exit 2 pspf-replay -b "$B" -d "$T/data" t
expect_contains "$ERR" "-d and -b name two different logs"
expect_exit 2 pspf-replay -b "$B" -X no.such.setting=1 t
expect_contains "$ERR" "invalid -X no.such.setting=1"
expect_exit 2 pspf-replay -X acks=all t
expect_contains "$ERR" "-X needs -b"
expect_exit 1 pspf-replay -b "$B" no-such-topic
expect_contains "$ERR" "no topic no-such-topic"
# PSPF_BROKERS selects the cluster; an explicit -d still wins over it.
PSPF_BROKERS=$B expect_exit 0 pspf-replay t -c 1
expect_lines 1 "$OUT" "PSPF_BROKERS"
PSPF_BROKERS=$B expect_exit 0 pspf-replay -d "$T/data" keys -c 3
expect_lines 3 "$OUT" "-d over PSPF_BROKERS"
echo "ok: $TEST_NAME"
