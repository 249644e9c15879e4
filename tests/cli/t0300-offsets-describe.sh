#!/usr/bin/env bash
# pspf-offsets list and describe: groups listed sorted (text and JSON); describe
# shows, for every partition the group has state for, the committed offset, the
# log end, LAG = end - committed exactly, TIME-LAG measured from the oldest
# unconsumed event (checked against its append time as pspf-replay -J reports it),
# the live owner as PID@HOST while a follower runs and "-" once it is killed, and
# rows with "-" (null) for a topic deleted since.
# A group that does not exist is an error (exit 1).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

for _tool in pspf-offsets pspf-consume; do
  [ -x "$PSPF_BIN/$_tool" ] || skip "$_tool is not built"
done

# describe_norm: the table with TIME-LAG (column 7) replaced by "*" and the
# padding collapsed, from $OUT.
describe_norm() {
  awk '{ $7 = "*"; print }' "$OUT"
}

# ts_of TOPIC PARTITION OFFSET: the append timestamp pspf-replay reports.
ts_of() {
  pspf-replay "$1" -J -p "$2" --from "$3" -c 1 | jq -r .timestamp
}

# owner_of GROUP TOPIC PARTITION: "PID@HOST" or "-" from describe --json.
owner_of() {
  pspf-offsets describe -g "$1" --json |
    jq -r --arg t "$2" --argjson p "$3" \
      '.[] | select(.topic == $t and .partition == $p) |
       if .owner == null then "-" else "\(.owner.pid)@\(.owner.host)" end'
}
owner_is() { [ "$(owner_of "$1" "$2" "$3")" = "$4" ]; }

# --- no groups yet ----------------------------------------------------------------
expect_exit 0 pspf-offsets list
expect_empty "$OUT" "list without groups"
expect_exit 0 pspf-offsets list --json
expect_eq '[]' "$(cat "$OUT")" "list --json without groups"
expect_exit 1 pspf-offsets describe -g G
expect_empty "$OUT" "describe of a missing group: stdout"
expect_eq "pspf-offsets: error: group 'G' does not exist (pspf-offsets list shows the groups)" \
  "$(cat "$ERR")" "describe of a missing group: message"

# --- a group that consumed everything, then new events ----------------------------
expect_exit 0 pspf-topics create t -P 3
seq 1 5 >"$T/five"
seq 1 3 >"$T/three"
expect_exit 0 pspf-produce -q t -p 0 <"$T/five"
expect_exit 0 pspf-produce -q t -p 1 <"$T/three"
expect_exit 0 pspf-consume -g G t -e
expect_lines 8 "$OUT" "events consumed by G"

expect_exit 0 pspf-offsets describe -g G
expect_eq "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG * OWNER
G t 0 5 5 0 * -
G t 1 3 3 0 * -
G t 2 0 0 0 * -" "$(describe_norm)" "describe after consuming everything"
expect_eq "- - -" "$(awk 'NR > 1 { printf "%s%s", sep, $7; sep = " " }' "$OUT")" \
  "TIME-LAG with nothing waiting"

# Partition 0 gets two batches at different times: the TIME-LAG must be measured
# from the first (the oldest unconsumed event), not the second.
printf '6\n7\n' | pspf-produce -q t -p 0
ts_a=$(ts_of t 0 5)
wait_clock_past $((ts_a + 20))
printf '8\n' | pspf-produce -q t -p 0
ts_b=$(ts_of t 0 7)
[ "$ts_b" -ge $((ts_a + 20)) ] || fail "the second batch is not later: $ts_a $ts_b"
expect_exit 0 pspf-produce -q t -p 2 <"$T/three"
ts_c=$(ts_of t 2 0)

before=$(now_ms)
expect_exit 0 pspf-offsets describe -g G --json
after=$(now_ms)
expect_eq '[{"group":"G","topic":"t","partition":0,"current_offset":5,"log_end_offset":8,"lag":3,"past_log_end":false,"owner":null},{"group":"G","topic":"t","partition":1,"current_offset":3,"log_end_offset":3,"lag":0,"past_log_end":false,"owner":null},{"group":"G","topic":"t","partition":2,"current_offset":0,"log_end_offset":3,"lag":3,"past_log_end":false,"owner":null}]' \
  "$(jq -c 'map(del(.time_lag))' "$OUT")" "describe --json with lag"
tl0=$(jq '.[0].time_lag' "$OUT")
tl1=$(jq '.[1].time_lag' "$OUT")
tl2=$(jq '.[2].time_lag' "$OUT")
expect_between() {  # VALUE LOW HIGH WHAT
  if [ "$1" -lt "$2" ] || [ "$1" -gt "$3" ]; then
    echo "FAIL: $TEST_NAME:${BASH_LINENO[0]}: $4: expected $2..$3, got $1" >&2
    exit 1
  fi
}
expect_between "$tl0" $((before - ts_a)) $((after - ts_a)) "time_lag of partition 0 (from the oldest unconsumed event)"
expect_eq 0 "$tl1" "time_lag of a partition without lag"
expect_between "$tl2" $((before - ts_c)) $((after - ts_c)) "time_lag of partition 2"

expect_exit 0 pspf-offsets describe -g G
expect_eq "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG * OWNER
G t 0 5 8 3 * -
G t 1 3 3 0 * -
G t 2 0 3 3 * -" "$(describe_norm)" "describe with lag"
for row in 2 4; do
  tl=$(awk -v r="$row" 'NR == r { print $7 }' "$OUT")
  [[ $tl =~ ^([0-9]+ms|[0-9]+\.[0-9]s|[0-9]+m[0-9][0-9]s)$ ]] || fail "TIME-LAG in row $row is [$tl]"
done
expect_eq "-" "$(awk 'NR == 3 { print $7 }' "$OUT")" "TIME-LAG of partition 1"
expect_empty "$ERR" "describe: stderr"

# -d after the command, and from another directory without PSPF_DIR.
expect_exit 0 pspf-offsets describe -g G -d "$PSPF_DIR"
expect_eq "G t 1 3 3 0 * -" "$(describe_norm | sed -n 3p)" "describe -d DIR"
mkdir "$T/elsewhere"
(cd "$T/elsewhere" && env -u PSPF_DIR pspf-offsets -d "$T/data" describe -g G >"$T/other.out")
expect_eq "$(sed -n 3p "$OUT")" "$(sed -n 3p "$T/other.out")" "describe from elsewhere"

# committed_at GROUP TOPIC PARTITION OFFSET: the group has committed OFFSET there.
committed_at() {
  pspf-offsets describe -g "$1" --json 2>/dev/null |
    jq -e --arg t "$2" --argjson p "$3" --argjson o "$4" \
      'any(.[]; .topic == $t and .partition == $p and .current_offset == $o)' >/dev/null
}

# --- a partition with a live owner ------------------------------------------------
expect_exit 0 pspf-topics create u -P 1
expect_exit 0 pspf-produce -q u <"$T/three"
# A live member that commits its starting point (0) and never gets further: its
# command keeps failing (and it keeps retrying).
bg_start pspf-consume -g G u --max-attempts 1000000 --exec 'cat >/dev/null; exit 1' >"$T/u.out" 2>"$T/u.err" </dev/null
member=$BG_PID
wait_until 10 "describe to show pid $member as the owner of u/0" owner_is G u 0 "$member@$HOSTNAME"
expect_exit 0 pspf-offsets describe -g G
wait_until 10 "the member to commit its starting point" committed_at G u 0 0
expect_exit 0 pspf-offsets describe -g G
expect_eq "G u 0 0 3 3 * $member@$HOSTNAME" "$(describe_norm | sed -n 5p)" "describe: owned"
ts_u=$(ts_of u 0 0)
before=$(now_ms)
expect_exit 0 pspf-offsets describe -g G --json
after=$(now_ms)
expect_eq "{\"group\":\"G\",\"topic\":\"u\",\"partition\":0,\"current_offset\":0,\"log_end_offset\":3,\"lag\":3,\"past_log_end\":false,\"owner\":{\"pid\":$member,\"host\":\"$HOSTNAME\"}}" \
  "$(jq -c '.[3] | del(.time_lag) | .owner |= del(.member)' "$OUT")" "describe --json: owned"
expect_between "$(jq '.[3].time_lag' "$OUT")" $((before - ts_u)) $((after - ts_u)) "time_lag of u/0"
expect_eq "$HOSTNAME-$member-" "$(jq -r '.[3].owner.member[0:-8]' "$OUT")" "owner member id"
expect_eq "null null null" "$(jq -r '[.[0:3][].owner] | map(tostring) | join(" ")' "$OUT")" \
  "partitions of t have no owner"

expect_exit 0 pspf-offsets list --json
expect_eq '[{"group":"G","topics":["t","u"],"live_members":1}]' "$(cat "$OUT")" "list --json with a member"

kill "$member"
wait "$member" || true
wait_until 10 "describe to show no owner of u/0" owner_is G u 0 "-"
expect_exit 0 pspf-offsets describe -g G
expect_eq "G u 0 0 3 3 * -" "$(describe_norm | sed -n 5p)" "describe after the owner died"

# --- list -------------------------------------------------------------------------
expect_exit 0 pspf-consume -g A t -e -c 1
expect_exit 0 pspf-offsets list
expect_eq "A
G" "$(cat "$OUT")" "list"
expect_exit 0 pspf-offsets list --json
expect_eq '[{"group":"A","topics":["t"],"live_members":0},{"group":"G","topics":["t","u"],"live_members":0}]' \
  "$(cat "$OUT")" "list --json"

# --- a topic deleted since --------------------------------------------------------
expect_exit 0 pspf-topics delete u
expect_exit 0 pspf-offsets describe -g G
expect_eq "G u 0 0 - - * -" "$(describe_norm | sed -n 5p)" "describe: deleted topic"
expect_eq "-" "$(awk 'NR == 5 { print $7 }' "$OUT")" "TIME-LAG of a deleted topic"
expect_exit 0 pspf-offsets describe -g G --json
expect_eq '{"group":"G","topic":"u","partition":0,"current_offset":0,"log_end_offset":null,"lag":null,"past_log_end":false,"time_lag":null,"owner":null}' \
  "$(jq -c '.[3]' "$OUT")" "describe --json: deleted topic"

echo "PASS: $TEST_NAME"
