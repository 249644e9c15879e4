#!/usr/bin/env bash
# 8 pspf-produce processes append 2,000 events each to one 4-partition topic at the
# same time, keyed by 6 keys they share. Afterwards every event is there exactly
# once, each key lives on its Kafka partition, offsets are dense, and per key each
# producer's events are in its own order. pspf-topics verify finds nothing wrong.
#
# Producers 0-3 send their input in chunks of 1..97 lines and wait for the receipts
# of a chunk before sending the next (so their appends interleave with the others'
# in many small batches); producers 4-7 stream their input as fast as they can.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

producers=8
per_producer=2000
keys=(user-1 user-2 user-3 user-4 user-5 user-6)
# Kafka's partitions for these keys with 4 partitions: toPositive(murmur2(key)) % 4.
want_partitions='{"user-1":0,"user-2":0,"user-3":3,"user-4":3,"user-5":2,"user-6":1}'

expect_exit 0 pspf-topics create c -P 4

event() {  # PRODUCER SEQ
  printf '{"key":"%s","producer":%d,"seq":%d,"pad":"%s"}\n' \
    "${keys[$((($2 * 7 + $1 * 3 + $2 / 5) % 6))]}" "$1" "$2" "payload-$1-$2"
}

# Chunked: sends a chunk, then reads one receipt per line from fd 3 before going on.
chunked_producer() {  # PRODUCER
  local p=$1 s=0 n i
  RANDOM=$((p + 1))
  while [ "$s" -lt "$per_producer" ]; do
    n=$((1 + RANDOM % 97))
    [ $((s + n)) -le "$per_producer" ] || n=$((per_producer - s))
    for ((i = 0; i < n; i++)); do event "$p" $((s + i)) || return 1; done
    for ((i = 0; i < n; i++)); do
      read -r -u 3 _ || { echo "producer $p: no receipt for seq $((s + i)) (the producer died?)" >&2; return 1; }
    done
    s=$((s + n))
  done
}

streaming_producer() {  # PRODUCER
  local s
  for ((s = 0; s < per_producer; s++)); do event "$1" "$s" || return 1; done
}

pids=()
for ((p = 0; p < producers; p++)); do
  if [ "$p" -lt 4 ]; then
    mkfifo "$T/fifo.$p"
    # The receipts go to a file and through a FIFO back to the generator; a producer
    # that did not append when its input pauses would hang, hence the timeout.
    # shellcheck disable=SC2094  # one end of the FIFO reads what the other writes
    chunked_producer "$p" 3<"$T/fifo.$p" |
      timeout 120 pspf-produce c --key-field key --receipts --sync batch -q 2>"$T/err.$p" |
      tee "$T/receipts.$p" >"$T/fifo.$p" &
  else
    streaming_producer "$p" | pspf-produce c --key-field key --sync none -q 2>"$T/err.$p" &
  fi
  pids+=($!)
  BG_PIDS+=($!)
done
for ((p = 0; p < producers; p++)); do
  rc=0
  wait "${pids[$p]}" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$T/err.$p" >&2; fail "producer $p exited $rc"; }
  expect_empty "$T/err.$p" "stderr of producer $p"
done

expect_exit 0 pspf-replay c --no-merge -J
mv "$OUT" "$T/all.jsonl"
expect_lines $((producers * per_producer)) "$T/all.jsonl" "events in the topic"

# One jq program prints a line per problem found; nothing printed = all good.
jq -s -r --argjson producers "$producers" --argjson per "$per_producer" \
  --argjson want "$want_partitions" '
  . as $all
  | ( if length != $producers * $per then "\(length) events instead of \($producers * $per)" else empty end ),
    # every (producer, seq) exactly once
    ( group_by(.value.producer)
      | if length != $producers then "events of \(length) producers instead of \($producers)" else empty end,
        ( .[] | (.[0].value.producer) as $p | [.[].value.seq] | sort
          | if . != [range($per)] then "producer \($p): seqs are not 0..\($per - 1) exactly once" else empty end ) ),
    # the record key is the key field, and each key is on its Kafka partition
    ( .[] | select(.key != .value.key) | "offset \(.offset) of partition \(.partition): key \(.key) but field \(.value.key)" ),
    ( .[] | select(.partition != $want[.key]) | "key \(.key) on partition \(.partition), Kafka puts it on \($want[.key])" ),
    # offsets dense from 0 in every partition, in order of output (--no-merge)
    ( group_by(.partition)[] | (.[0].partition) as $p | [.[].offset]
      | if . != [range(length)] then "partition \($p): offsets are not 0..\(length - 1) in order" else empty end ),
    ( [.[].partition] | if . != sort then "--no-merge output is not partition by partition" else empty end ),
    # per key, each producer`s events in its seq order (log order = output order)
    ( group_by(.key)[] | (.[0].key) as $k | group_by(.value.producer)[]
      | (.[0].value.producer) as $p | [.[].value.seq]
      | if . != sort then "key \($k): events of producer \($p) out of order" else empty end )
' "$T/all.jsonl" >"$T/problems"
expect_empty "$T/problems" "problems found in the topic"

# Every partition got events, and the appends of different producers interleave
# (otherwise this test would not test concurrency).
runs=$(jq -r '"\(.partition) \(.value.producer)"' "$T/all.jsonl" | uniq | wc -l)
[ "$runs" -ge 40 ] || fail "only $runs runs of one producer per partition: appends did not interleave"
expect_eq 4 "$(jq -r .partition "$T/all.jsonl" | sort -u | wc -l)" "partitions that got events"

# The receipts of the chunked producers name exactly their events.
for ((p = 0; p < 4; p++)); do
  expect_lines "$per_producer" "$T/receipts.$p" "receipts of producer $p"
  jq -r '"\(.partition) \(.offset) \(.key)"' "$T/receipts.$p" | sort >"$T/r.$p"
  jq -r --argjson p "$p" 'select(.value.producer == $p) | "\(.partition) \(.offset) \(.key)"' \
    "$T/all.jsonl" | sort >"$T/e.$p"
  expect_same_file "$T/e.$p" "$T/r.$p" "receipts of producer $p"
done

expect_exit 0 pspf-topics describe c --json
expect_eq $((producers * per_producer)) "$(jq '[.partition_details[].records] | add' "$OUT")" \
  "records counted by describe"
expect_exit 0 pspf-topics verify c
expect_eq 4 "$(grep -c ': ok, ' "$OUT")" "partitions verified ok"

# The merged replay has the same events, with append times never going back.
expect_exit 0 pspf-replay c -J
jq -s -r '[.[].timestamp] as $t | if $t != ($t | sort) then "merged replay goes back in time" else empty end' \
  "$OUT" >"$T/problems"
expect_empty "$T/problems" "merged order"
expect_eq "$(jq -c '[.partition,.offset]' "$T/all.jsonl" | sort | sha256sum)" \
  "$(jq -c '[.partition,.offset]' "$OUT" | sort | sha256sum)" "merged and unmerged replays hold the same events"

echo "ok: $producers producers x $per_producer events, $runs interleaved runs"
