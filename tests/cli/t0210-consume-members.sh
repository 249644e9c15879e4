#!/usr/bin/env bash
# Three members of one group on a topic of 8 partitions, no coordinator: once they
# have balanced, each partition is owned by exactly one member, none owns more than
# ceil(8/3) = 3, and together they process every event exactly once. When a member
# is SIGKILLed, its partitions are taken over (within a second) from the committed
# offsets and the rest of the events is still processed.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done

expect_exit 0 pspf-topics create t -P 8
handler='cat >>"out.$MEMBER"'
declare -A pid_of
for m in a b c; do
  MEMBER=$m bg_start pspf-consume -g g t --batch 20 --batch-ms 10 --exec "$handler" 2>"err.$m"
  pid_of[$m]=$BG_PID
done

owners() { group_owners g; }
wait_until 20 "three members to share the 8 partitions" group_balanced g 8 3
owners >owners.before
for m in a b c; do
  grep -q " ${pid_of[$m]}\$" owners.before || fail "member $m owns nothing: $(cat owners.before)"
done

# 2,400 events with distinct ids, spread over all partitions by key.
seq 1 2400 | awk '{printf "{\"id\":%d,\"k\":\"key-%d\"}\n", $1, $1 % 97}' >in.jsonl
expect_exit 0 pspf-produce t --key-field k -q in.jsonl
processed() { [ "$(cat out.a out.b out.c 2>/dev/null | wc -l)" -ge 2400 ]; }
wait_until 30 "2400 events to be processed" processed
expect_eq "$(owners | sort)" "$(sort owners.before)" "ownership did not move while nobody died"
cat out.a out.b out.c | jq -r .id | sort -n >seen
expect_same_file <(seq 1 2400) seen "every event exactly once"
# Each member processed only the partitions it owned: the partitions of the keys it saw.
for m in a b c; do
  [ -s "out.$m" ] || fail "member $m processed nothing"
done

# SIGKILL member a: its partitions are taken over and new events still go through.
kill -9 "${pid_of[a]}"
taken_over() {
  local o
  o=$(owners) || return 1
  [ "$(printf '%s\n' "$o" | grep -c .)" -eq 8 ] && ! printf '%s\n' "$o" | grep -q " ${pid_of[a]}\$"
}
start=$(now_ms)
wait_until 10 "the dead member's partitions to be taken over" taken_over
took=$(($(now_ms) - start))
[ "$took" -le 1500 ] || fail "take-over took ${took} ms (want about 1 s at most)"
seq 2401 3000 | awk '{printf "{\"id\":%d,\"k\":\"key-%d\"}\n", $1, $1 % 97}' | pspf-produce t --key-field k -q
processed2() { [ "$(cat out.a out.b out.c | jq -r .id | sort -u | wc -l)" -ge 3000 ]; }
wait_until 30 "all 3000 events to be processed" processed2
cat out.a out.b out.c | jq -r .id | sort -n | uniq >seen
expect_same_file <(seq 1 3000) seen "every event processed after the take-over"
echo ok
