#!/usr/bin/env bash
# Group members share the work the way Kafka's do (pspf-consume(1) DESCRIPTION):
#   1. a member takes its partitions in turn: with 5,000 events in p0 and 1,000 in
#      p1, `-c 4000` prints all of p1's 1,000 (500 records of one partition at most
#      before the next), and --exec batches alternate between the two partitions
#      until p1 is drained;
#   2. a member that joins late gets its share (2 of 4 partitions) about one batch
#      time after it joins, not once the first member has drained a partition;
#   3. a soak: 3 members on 8 partitions under a steady producer. While a partition
#      has a backlog, its member runs at most two other batches (ceil(8/3) - 1)
#      before it serves that partition again: no partition waits longer than two
#      batch times. Every event is processed exactly once.
# Batches are logged by the --exec handler itself (member, partition, offsets, start
# and end time), so the checks read what happened rather than guess from timing.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done

quantum=500 # records of one partition handed out at most before the next (pspf-consume(1))

# events N FIRST: N events {"id":FIRST..} as JSON lines.
events() { seq "$2" $(($2 + $1 - 1)) | awk '{printf "{\"id\":%d}\n", $1}'; }

# The --exec handler: logs "member partition first last start end" to batches.log (one
# short append per batch), copies the batch to out.MEMBER, sleeps HANDLER_SLEEP. With
# GATE set, it first waits for the file "go".
cat >handler.sh <<'EOF'
while [ -n "${GATE:-}" ] && [ ! -e go ]; do read -r -t 0.005 <>"$NAP_FIFO" || true; done
start=$EPOCHREALTIME
cat >>"out.$MEMBER"
if [ "${HANDLER_SLEEP:-0}" != 0 ]; then read -r -t "$HANDLER_SLEEP" <>"$NAP_FIFO" || true; fi
printf '%s %s %s %s %s %s\n' "$MEMBER" "$PSPF_PARTITION" "$PSPF_FIRST_OFFSET" \
  "$PSPF_LAST_OFFSET" "$start" "$EPOCHREALTIME" >>batches.log
EOF
mkfifo handler.fifo
export NAP_FIFO=$T/handler.fifo

# --- 1. Round robin: plain mode with -c, and --exec batches -------------------------
expect_exit 0 pspf-topics create rr -P 2
events 5000 1 | pspf-produce rr -p 0 -q
events 1000 100001 | pspf-produce rr -p 1 -q

expect_exit 0 pspf-consume -g plain rr -J -c 4000
jq -r .partition "$OUT" >parts
expect_lines 4000 parts "-c 4000 prints 4000 records"
expect_eq 1000 "$(grep -c '^1$' parts)" "p1's records among the first 4000 (all of them)"
# No run of one partition longer than the quantum while the other still has records.
longest=$(awk 'NR > 1 && $1 == prev {run++} NR == 1 || $1 != prev {run = 1} {prev = $1; if (run > max) max = run} END {print max}' <(head -n 2000 parts))
[ "$longest" -le "$quantum" ] || fail "a run of $longest records of one partition while the other had a backlog"
# Each partition's order is kept.
for p in 0 1; do
  jq -r "select(.partition == $p) | .offset" "$OUT" >offs
  expect_same_file <(sort -n offs) offs "partition $p in offset order"
done

MEMBER=rr expect_exit 0 pspf-consume -g ex rr -e --batch 100 --exec 'bash ./handler.sh'
awk '{print $2}' batches.log >seq
expect_lines 60 seq "60 batches of 100"
# p1's 10 batches are interleaved with p0's: in the first 20 batches, neither
# partition runs twice in a row.
expect_eq "" "$(head -n 20 seq | uniq -d)" "batches alternate while both partitions have a backlog"
expect_eq 10 "$(head -n 20 seq | grep -c '^1$')" "p1's batches among the first 20"
jq -r .id out.rr | sort -n >seen
expect_same_file <({ events 5000 1; events 1000 100001; } | jq -r .id | sort -n) seen "every event once"
rm -f batches.log out.rr

# --- 2. A late member gets its share within about a batch time ---------------------
expect_exit 0 pspf-topics create late -P 4
for p in 0 1 2 3; do events 1000 $((p * 10000 + 1)) | pspf-produce late -p "$p" -q; done
touch batches.log
HANDLER_SLEEP=0.1 MEMBER=A bg_start pspf-consume -g g late --batch 50 --exec 'bash ./handler.sh' 2>err.A
pid_a=$BG_PID
wait_until 20 "member A to run 5 batches" has_lines batches.log 5
HANDLER_SLEEP=0.1 MEMBER=B bg_start pspf-consume -g g late --batch 50 --exec 'bash ./handler.sh' 2>err.B
pid_b=$BG_PID
members() { [ "$(find data/groups/g/members -maxdepth 1 -type f ! -name '.*' | wc -l)" -eq 2 ]; }
wait_until 10 "member B to join" members
joined=$EPOCHREALTIME
b_ran() { grep -q '^B ' batches.log; }
wait_until 20 "member B to run a batch" b_ran
first_b=$(awk '$1 == "B" {print $5; exit}' batches.log)
waited_ms=$(awk -v a="$joined" -v b="$first_b" 'BEGIN {printf "%d", (b - a) * 1000}')
[ "$waited_ms" -le 1000 ] || fail "the late member's first batch came ${waited_ms} ms after it joined (want about one batch time)"
all_done() { [ "$(cat out.A out.B 2>/dev/null | wc -l)" -ge 4000 ]; }
wait_until 60 "4000 events to be processed" all_done
# After B's first batch each member keeps to its own 2 partitions.
after=$(awk -v t="$first_b" '$5 >= t' batches.log)
b_parts=$(awk '$1 == "B" {print $2}' <<<"$after" | sort -u | tr '\n' ' ')
a_parts=$(awk '$1 == "A" {print $2}' <<<"$after" | sort -u | tr '\n' ' ')
expect_eq 2 "$(wc -w <<<"$b_parts")" "partitions B served (B: $b_parts A: $a_parts)"
for p in $b_parts; do
  case " $a_parts " in *" $p "*) fail "partition $p went back and forth (B: $b_parts A: $a_parts)" ;; esac
done
cat out.A out.B | jq -r .id | sort -n >seen
expect_same_file <(for p in 0 1 2 3; do events 1000 $((p * 10000 + 1)); done | jq -r .id | sort -n) seen \
  "every event exactly once"
kill "$pid_a" "$pid_b"
wait "$pid_a" "$pid_b" || true
rm -f batches.log out.A out.B

# --- 3. Soak: 3 members, 8 partitions, a steady producer ------------------------------
per_partition=${PSPF_SOAK_EVENTS:-400}
expect_exit 0 pspf-topics create soak -P 8
touch batches.log
declare -A pid_of
for m in x y z; do
  GATE=1 HANDLER_SLEEP=0.02 MEMBER=$m bg_start pspf-consume -g s soak --batch 20 --exec 'bash ./handler.sh' 2>"err.$m"
  pid_of[$m]=$BG_PID
done
wait_until 20 "three members to share the 8 partitions" group_balanced s 8 3
# The backlog: per_partition events in each partition, then a steady trickle. The
# handlers wait until every partition has its backlog: a member's first batch may be
# gathered from the partition filled first, and is counted as the batch in hand.
for p in 0 1 2 3 4 5 6 7; do events "$per_partition" $((p * 100000 + 1)) | pspf-produce soak -p "$p" -q; done
touch go
trickle() {
  local i
  for ((i = 0; i < 80; i++)); do
    pspf-produce soak -p $((i % 8)) -q <<<"{\"id\":$((900000 + i))}"
  done
}
trickle &
trickle_pid=$!
BG_PIDS+=("$trickle_pid")
wait "$trickle_pid"
soak_done() { [ "$(cat out.x out.y out.z 2>/dev/null | wc -l)" -ge $((8 * per_partition + 80)) ]; }
wait_until 120 "the soak's events to be processed" soak_done
for m in x y z; do kill "${pid_of[$m]}"; done
for m in x y z; do wait "${pid_of[$m]}" || true; done

# While p has a backlog (its batch ended before the preloaded events did), its member
# runs at most 2 other batches before p's next one.
sort -k5,5n batches.log | awk -v last=$((per_partition - 1)) '
  { m = $1; p = $2; n[m]++ }
  # Every partition has a backlog from the first batch on (the members balanced
  # before the events came, and the handlers waited for all of them): its first
  # batch counts from the member'"'"'s first.
  !((m SUBSEP p) in at) { at[m, p] = 0; backlog[m, p] = 1 }
  {
    between = n[m] - at[m, p] - 1
    if (between > 2 && backlog[m, p]) {
      printf "member %s ran %d other batches before partition %d again (offsets %d..%d)\n", m, between, p, $3, $4
      bad = 1
    }
  }
  { at[m, p] = n[m]; backlog[m, p] = ($4 < last) }
  END { exit bad }' >starved || fail "a partition waited more than two batch times: $(head -n 3 starved)"
cat out.x out.y out.z | jq -r .id | sort -n >seen
expect_same_file <({ for p in 0 1 2 3 4 5 6 7; do events "$per_partition" $((p * 100000 + 1)); done
  events 80 900000; } | jq -r .id | sort -n) seen "every soak event exactly once"
for m in x y z; do [ -s "out.$m" ] || fail "member $m processed nothing"; done
echo "ok: round robin, late member after ${waited_ms} ms, soak of $(line_count batches.log) batches"
