#!/usr/bin/env bash
# pspf-replay ranges and order: --from/--until with offsets, -N, end, @epoch-ms,
# @ISO 8601 (Z and +hh:mm) and @-duration; -p; --key; -c; --no-merge (partition by
# partition, offsets in order) and the default merge (append times never go back).
# Every result is compared with what jq selects from the full -J dump. --follow
# prints events appended after it started (also to empty partitions and across
# segment rolls), stops by itself with -c, and ends normally (exit 0) on SIGTERM.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

expect_exit 0 pspf-topics create r -P 3

# Three waves of 30 events, each wave appended at a later millisecond than the last.
# Keys a..f: with 3 partitions Kafka puts f on 0, a and c on 1, b, d and e on 2.
keys=(a b c d e f)
for wave in 0 1 2; do
  [ "$wave" -eq 0 ] || wait_clock_past "$(jq -s 'map(.timestamp) | max' "$T/all")"
  for ((i = 0; i < 30; i++)); do
    n=$((wave * 30 + i))
    printf '{"k":"%s","n":%d,"wave":%d}\n' "${keys[$((n % 6))]}" "$n" "$wave"
  done >"$T/wave$wave.jsonl"
  expect_exit 0 pspf-produce r --key-field k -q "$T/wave$wave.jsonl"
  expect_exit 0 pspf-replay r --no-merge -J
  cp "$OUT" "$T/all"
done
expect_lines 90 "$T/all" "events in the topic"
expect_eq '[1,2,1,2,2,0]' "$(jq -sc '[group_by(.key)[] | .[0].partition]' "$T/all")" \
  "partitions of keys a..f"
expect_eq '[15,30,45]' "$(jq -sc '[group_by(.partition)[] | length]' "$T/all")" "events per partition"

# The waves' first append times.
t1=$(jq -s '[.[] | select(.value.wave == 1) | .timestamp] | min' "$T/all")
t2=$(jq -s '[.[] | select(.value.wave == 2) | .timestamp] | min' "$T/all")
[ "$(jq -s '[.[] | select(.value.wave == 0) | .timestamp] | max' "$T/all")" -lt "$t1" ] ||
  fail "wave 0 was not appended before wave 1"

# check DESCRIPTION JQ-SELECT REPLAY-ARGS...: `pspf-replay r --no-merge -J ARGS`
# prints exactly the events of the full dump that JQ-SELECT keeps, in order.
check() {
  local what=$1 select=$2
  shift 2
  expect_exit 0 pspf-replay r --no-merge -J "$@"
  jq -c '[.partition,.offset,.value.n]' "$OUT" >"$T/got"
  jq -c "select($select) | [.partition,.offset,.value.n]" "$T/all" >"$T/want"
  expect_same_file "$T/want" "$T/got" "$what (replay $*)"
}

# End offsets per partition: 15, 30, 45.
check "everything" 'true'
check "everything from beginning" 'true' --from beginning
check "--from 3" '.offset >= 3' --from 3
check "-o 12" '.offset >= 12' -o 12
check "--from 0" 'true' --from 0
check "--from past the end" 'false' --from 50
check "--from end" 'false' --from end
check "--until 2" '.offset < 2' --until 2
check "--until 0" 'false' --until 0
check "--from 5 --until 12" '.offset >= 5 and .offset < 12' --from 5 --until 12
check "--from 7 --until 7" 'false' --from 7 --until 7
check "--from -2 (last 2 per partition)" \
  '(.partition == 0 and .offset >= 13) or (.partition == 1 and .offset >= 28) or (.partition == 2 and .offset >= 43)' \
  --from -2
check "--from -25 (more than a partition holds)" \
  '(.partition == 0) or (.partition == 1 and .offset >= 5) or (.partition == 2 and .offset >= 20)' --from -25
check "--from -0" 'false' --from -0
check "--until -2" \
  '(.partition == 0 and .offset < 13) or (.partition == 1 and .offset < 28) or (.partition == 2 and .offset < 43)' \
  --until -2
check "--until end" 'true' --until end
check "--from @t1 (epoch ms)" ".timestamp >= $t1" --from "@$t1"
check "--from @t2" ".timestamp >= $t2" --from "@$t2"
check "--until @t1" ".timestamp < $t1" --until "@$t1"
check "--from @t1 --until @t2" ".timestamp >= $t1 and .timestamp < $t2" --from "@$t1" --until "@$t2"
check "--from @t1+1ms" ".timestamp > $t1" --from "@$((t1 + 1))"
check "--from @0" 'true' --from @0
check "--from @-1h" 'true' --from @-1h
check "--until @-1h" 'false' --until @-1h
check "--from @-1d2h" 'true' --from @-1d2h
iso() {  # MS [OFFSET-MINUTES]: the time as ISO 8601, in UTC or at an offset
  local ms=$1 off=${2:-0} zone
  if [ "$off" -eq 0 ]; then zone=Z; else zone=$(printf '+%02d:%02d' $((off / 60)) $((off % 60))); fi
  printf '%s.%03d%s\n' "$(date -u -d "@$((ms / 1000 + off * 60))" +%Y-%m-%dT%H:%M:%S)" $((ms % 1000)) "$zone"
}
check "--from @ISO (Z)" ".timestamp >= $t1" --from "@$(iso "$t1")"
check "--from @ISO (+05:30)" ".timestamp >= $t1" --from "@$(iso "$t1" 330)"
check "--until @ISO (Z)" ".timestamp < $t2" --until "@$(iso "$t2")"
check "--from @date only (1970)" 'true' --from @1970-01-02
check "-p 1" '.partition == 1' -p 1
check "-p 0,2" '.partition != 1' -p 0,2
check "-p 0 -p 2" '.partition != 1' -p 0 -p 2
check "-p 2 --from 40" '.partition == 2 and .offset >= 40' -p 2 --from 40
check "--key a" '.key == "a"' --key a
check "--key e --from 40" '.key == "e" and .offset >= 40' --key e --from 40
check "--key e --from @t2" ".key == \"e\" and .timestamp >= $t2" --key e --from "@$t2"
check "--key nobody" 'false' --key nobody
check "-c 4" '.partition == 0 and .offset < 4' -c 4
check "-c 0" 'false' -c 0
check "-c 20" '(.partition == 0) or (.partition == 1 and .offset < 5)' -c 20
check "-c 1000" 'true' -c 1000
check "--key b -c 3" '.key == "b" and .value.n < 18' --key b -c 3
check "--from -1 -p 1" '.partition == 1 and .offset == 29' --from -1 -p 1

# Values only by default: the same values as the envelopes hold.
expect_exit 0 pspf-replay r --no-merge
expect_eq "$(jq -c .value "$T/all" | sha256sum)" "$(sha256sum <"$OUT")" "values printed without -J"

# The default order merges partitions by append time: times never go back,
# offsets go up within each partition, and wave 1 comes after all of wave 0.
expect_exit 0 pspf-replay r -J
jq -s -r '
  ( [.[].timestamp] | if . != sort then "append times go back" else empty end ),
  ( [.[].value.wave] | if . != sort then "a later wave is printed before an earlier one" else empty end ),
  ( group_by(.partition)[] | [.[].offset] | if . != [range(length)] then "offsets out of order" else empty end ),
  ( if length != 90 then "\(length) events instead of 90" else empty end )' "$OUT" >"$T/problems"
expect_empty "$T/problems" "merged order"
expect_exit 0 pspf-replay r -J --from 25
expect_eq '[[1,5],[2,20]]' "$(jq -sc 'group_by(.partition) | map([.[0].partition, length])' "$OUT")" \
  "merged --from 25: events per partition"
expect_exit 0 pspf-replay r -J -c 35
expect_eq '[30,5]' "$(jq -sc '[(map(select(.value.wave == 0)) | length), (map(select(.value.wave == 1)) | length)]' "$OUT")" \
  "merged -c 35: the first 35 appended"

# Bad ranges are usage errors.
for bad in x 1.5 -x --1 @garbage @2026-13-01T00:00:00Z @-1y "@2026-01-01T00:00:00" ""; do
  expect_exit 2 pspf-replay r --from="$bad"
  expect_contains "$ERR" "pspf-replay: error: " "--from '$bad'"
done
expect_exit 2 pspf-replay r --until nope
expect_exit 2 pspf-replay r -p 3
expect_contains "$ERR" "has no partition 3"
expect_exit 2 pspf-replay r -p x
expect_eq "pspf-replay: error: invalid -p 'x': 'x' is not a partition or a range (0, 0,2 or 1-3)" \
  "$(cat "$ERR")" "-p x"
# -p takes the same list as pspf-offsets --topic T:LIST: ranges, each partition once.
for spec in 1-2 2,1 1-2,2; do
  expect_exit 0 pspf-replay r -J -p "$spec"
  expect_eq '[1,2]' "$(jq -sc 'map(.partition) | unique' "$OUT")" "-p $spec: partitions"
  expect_eq "$(pspf-replay r -J -p 1 | wc -l) $(pspf-replay r -J -p 2 | wc -l)" \
    "$(jq -r .partition "$OUT" | sort | uniq -c | awk '{printf "%s%s", sep, $1; sep=" "}')" "-p $spec: each once"
done
for spec in 2-1 1- ,1 1,,2; do
  expect_exit 2 pspf-replay r -p "$spec"
  expect_contains "$ERR" "pspf-replay: error: invalid -p '$spec': '" "-p $spec"
done
expect_exit 2 pspf-replay r --key a -p 0
expect_exit 1 pspf-replay nosuchtopic
expect_contains "$ERR" "pspf-replay: error: topic 'nosuchtopic' does not exist"

# --- --follow ---------------------------------------------------------------------
expect_exit 0 pspf-topics create f -P 2
expect_exit 0 pspf-produce f -p 0 -q <<<'{"f":0}'
ended() { ! kill -0 "$1" 2>/dev/null; }

bg_start pspf-replay f -f -J >"$T/follow" 2>"$T/follow.err"
fpid=$BG_PID
wait_until 10 "--follow to print the event already there" has_lines "$T/follow" 1
# Partition 1 has no segment yet: its first one is created while following.
expect_exit 0 pspf-produce f -p 1 -q <<<'{"f":1}'
wait_until 10 "--follow to print an event appended to an empty partition" has_lines "$T/follow" 2
for i in 2 3 4; do
  expect_exit 0 pspf-produce f -p $((i % 2)) -q <<<"{\"f\":$i}"
  wait_until 10 "--follow to print event $i" has_lines "$T/follow" $((i + 1))
done
kill -0 "$fpid" || fail "--follow exited on its own"
kill -TERM "$fpid"
wait_until 10 "--follow to stop on SIGTERM" ended "$fpid"
rc=0
wait "$fpid" || rc=$?
# pspf-replay(1): a follower stopped by SIGINT or SIGTERM ends normally, exit 0.
expect_eq 0 "$rc" "exit status of --follow stopped by SIGTERM"
expect_empty "$T/follow.err" "stderr of --follow"
expect_eq '[0,0,0]|[1,0,1]|[0,1,2]|[1,1,3]|[0,2,4]' \
  "$(jq -c '[.partition,.offset,.value.f]' "$T/follow" | paste -sd'|')" "events printed by --follow"

# -f with -c stops by itself; with --key only that key's events; across segment rolls.
expect_exit 0 pspf-topics create fs -P 1 --segment-bytes 1024
bg_start pspf-replay fs -f -c 12 --key k1 >"$T/follow2" 2>"$T/follow2.err"
fpid=$BG_PID
for i in $(seq 1 12); do
  expect_exit 0 pspf-produce fs -q -K '|' <<<"k0|{\"i\":$i,\"pad\":\"$(printf '%0400d' 0)\"}"
  expect_exit 0 pspf-produce fs -q -K '|' <<<"k1|{\"i\":$i}"
  wait_until 10 "--follow --key k1 to print event $i" has_lines "$T/follow2" "$i"
done
wait_until 10 "--follow -c 12 to stop after 12 events" ended "$fpid"
rc=0
wait "$fpid" || rc=$?
expect_eq 0 "$rc" "exit status of --follow -c 12"
expect_eq "$(seq 1 12 | sed 's/.*/{"i":&}/' | paste -sd'|')" "$(paste -sd'|' "$T/follow2")" \
  "events printed by --follow --key k1 -c 12"
segments=$(find "$PSPF_DIR/topics/fs/0" -name '*.log' | wc -l)
[ "$segments" -ge 5 ] || fail "only $segments segments: --segment-bytes 1024 did not roll"

# A negative count is a usage error, not "no limit" (checked last: the checks above
# run even while this fails).
expect_exit 2 pspf-replay r -c -1

echo "ok: ranges, order and --follow"
