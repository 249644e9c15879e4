#!/usr/bin/env bash
# 200 times: a generator pipes events into `pspf-produce --receipts --sync batch`,
# which is SIGKILLed once a random number of receipts is out (plus a random short
# spin, so the kill lands anywhere in the producer's cycle). A reader runs while the
# producer is alive, another after the kill. Checked each round: every event whose
# receipt was printed is in the log at that partition and offset with that key;
# replay never fails and shows only whole generated events; offsets stay dense, so
# each producer appended right after the dead one. Every 10th round a torn batch
# (a batch cut short, as a writer killed in the middle of write() leaves it; every
# other one big enough to have an index entry) is left at a partition's tail:
# readers must not see it, and the next writer must cut it off and append at the
# next offset. At the end pspf-topics verify finds nothing
# wrong.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

rounds=${PSPF_KILL_ROUNDS:-200}
# On a machine so loaded that 200 rounds would take minutes, stop starting rounds
# after this many seconds (at least 50 rounds must run).
budget=${PSPF_KILL_BUDGET:-120}
partitions=2
RANDOM=4242
expect_exit 0 pspf-topics create k -P "$partitions"

# generate ROUND RECEIPTS MAX: writes events in bursts of 1..6 lines and, after
# each burst, waits until RECEIPTS has a line per event sent, so that the producer
# appends many small batches. After MAX events it only waits to be killed.
generate() {
  local r=$1 max=$3 s=0 got=0 n i pad
  echo "$BASHPID" >"$T/gen.pid"
  exec 4<"$2"
  for (( ; ; )); do
    n=$((1 + RANDOM % 6))
    if [ "$s" -ge "$max" ]; then n=0; nap 1; fi
    for ((i = 0; i < n; i++, s++)); do
      pad=$(((s * 37 + r) % 200))
      printf '{"id":"r%d-%d","round":%d,"seq":%d,"pad":"%*s"}\n' "$r" "$s" "$r" "$s" "$pad" "" || return 0
    done
    while [ "$got" -lt "$s" ]; do
      if IFS= read -r -u 4 _; then got=$((got + 1)); else nap 0.002; fi
    done
  done
}

# receipts_or_exit FILE N PID: FILE has N lines, or process PID has ended.
receipts_or_exit() { has_lines "$1" "$2" || ! kill -0 "$3" 2>/dev/null; }

# check_log all|new RECEIPTS...: replays the topic (all of it, or only what each
# partition got since the last check) and checks that every record is a whole
# generated event, that offsets are dense from 0 in each partition and that every
# receipt in the RECEIPTS files names a record (partition, offset and key) of what
# was read. Updates ends[PARTITION] (the next offset) and leaves the ids of the
# records read in $T/ids.
ends=()
for ((p = 0; p < partitions; p++)); do ends[p]=0; done
check_log() {
  local mode=$1 rc=0 f p
  shift
  : >"$T/replay"
  for ((p = 0; p < partitions; p++)); do
    [ "$mode" = all ] && ends[p]=0
    pspf-replay k -J -p "$p" --from "${ends[p]}" >>"$T/replay" 2>"$T/replay.err" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$T/replay.err" >&2; fail "round $round: replay of partition $p exited $rc"; }
    expect_empty "$T/replay.err" "round $round: replay stderr"
  done
  # "E partition offset key whole?" for records, "R partition offset key" for
  # receipts, "X file" for a line that is not JSON (a receipt line the kill cut
  # short may end a receipts file; anything else is an error).
  jq -rR '(fromjson? // "not JSON") as $j
          | if $j == "not JSON" then "X \(input_filename)"
            elif input_filename == $replay
            then "E \($j.partition) \($j.offset) \($j.key) \($j.value.id == $j.key and $j.key == "r\($j.value.round)-\($j.value.seq)")"
            else "R \($j.partition) \($j.offset) \($j.key)" end' \
    --arg replay "$T/replay" "$T/replay" "$@" >"$T/table" || fail "round $round: jq failed"
  awk -v parts="$partitions" -v starts="${ends[*]}" -v ends="$T/ends" -v ids="$T/ids" -v replay="$T/replay" '
    BEGIN { split(starts, s, " "); for (p = 0; p < parts; p++) next_[p] = s[p + 1] + 0 }
    $1 == "X" && $2 == replay { print "replay printed a line that is not JSON"; bad = 1 }
    $1 == "E" {
      if ($5 != "true") { print "not a whole generated event: " $0; bad = 1 }
      if ($3 != next_[$2]) { print "partition " $2 ": offset " $3 " where " next_[$2] " was due"; bad = 1 }
      next_[$2] = $3 + 1
      rec[$2 " " $3] = $4
      print $4 > ids
    }
    $1 == "R" && rec[$2 " " $3] != $4 {
      print "receipt " $2 " " $3 " " $4 " but the log has [" rec[$2 " " $3] "] there"; bad = 1
    }
    END {
      for (p = 0; p < parts; p++) print next_[p] > ends
      exit bad
    }' "$T/table" >"$T/problems" || true
  if [ -s "$T/problems" ]; then
    head -5 "$T/problems" >&2
    fail "round $round: $(line_count "$T/problems") problems in the log"
  fi
  mapfile -t ends <"$T/ends"
}

# tear_tail PARTITION: leaves a torn batch at the tail of the partition, as a writer
# killed in the middle of write() does: appends one event with pspf-produce (which
# also cuts off any torn tail a kill left) and leaves it unpublished (as if its
# writer died before its sync: it is not acknowledged), then cuts its batch short, to
# 1..length-1 bytes. Every other time a 5 KB event goes first, so that the offset
# index has an entry for the torn batch (the index is a cache written after the batch:
# after a crash it may point at a batch whose bytes did not all reach the disk). Sets
# TORN_BYTES, and FILLED to the number of events appended before the torn one.
tear_tail() {
  local p=$1 seg idx pos len
  seg=$(segment_path k "$p")
  idx=$(segment_path k "$p" 0 .index)
  [ "$(find "$PSPF_DIR/topics/k/$p" -name '*.log' | wc -l)" -eq 1 ] || fail "more than one segment in partition $p"
  FILLED=$((tears % 2))
  if [ "$FILLED" -eq 1 ]; then
    printf '{"id":"r%d-fill","round":%d,"seq":"fill","pad":"%5000s"}\n' "$round" "$round" "" |
      pspf-produce k -p "$p" --key-field id -q || fail "round $round: producing the filler event"
  fi
  printf '{"id":"r%d-torn","round":%d,"seq":"torn"}\n' "$round" "$round" >"$T/torn.in"
  unpublished k "$p" pspf-produce k -p "$p" --key-field id -q "$T/torn.in"
  pos=$(batch_positions "$seg" | tail -1)
  len=$(u32_at "$seg" $((pos + 4)))
  [ $((pos + len)) -eq "$(stat -c %s "$seg")" ] || fail "round $round: the last batch does not end the segment"
  if [ "$FILLED" -eq 1 ]; then
    [ "$(u32_at "$idx" $(($(stat -c %s "$idx") - 4)))" = "$pos" ] ||
      fail "round $round: (test setup) the index has no entry for the batch to tear"
    TORN_BYTES=$((56 + RANDOM % (len - 56)))  # the whole header and part of the records
  else
    TORN_BYTES=$((1 + RANDOM % (len - 1)))
  fi
  truncate -s $((pos + TORN_BYTES)) "$seg"
}

receipt_files=()
total_receipts=0
tears=0
started=$SECONDS
for ((round = 1; round <= rounds; round++)); do
  if [ $((SECONDS - started)) -ge "$budget" ]; then
    [ "$round" -gt 50 ] || fail "only $((round - 1)) rounds in ${budget}s"
    echo "WARNING: stopped after $((round - 1)) rounds: the time budget of ${budget}s is used up" >&2
    rounds=$((round - 1))
    break
  fi
  want=$((1 + RANDOM % 8))
  rec=$T/rec.$round
  : >"$rec"
  # shellcheck disable=SC2094  # the generator reads the receipts the producer writes
  pspf-produce k --key-field id --receipts --sync batch <(generate "$round" "$rec" $((want + 12))) \
    >"$rec" 2>"$T/perr" &
  pid=$!
  BG_PIDS+=("$pid")
  wait_until 30 "round $round: $want receipts" receipts_or_exit "$rec" "$want" "$pid"
  for ((i = RANDOM % 2000; i > 0; i--)); do :; done
  # A reader while the writer is alive sees at least the receipted events.
  mapfile -t lines <"$rec"
  seen=${#lines[@]}  # (a receipt is printed once its event is durable: even a cut one counts)
  live_rc=0
  pspf-replay k >"$T/live" 2>"$T/live.err" || live_rc=$?
  kill -9 "$pid"
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  if read -r gpid <"$T/gen.pid"; then kill "$gpid" 2>/dev/null || true; fi
  [ "$rc" -eq 137 ] || { cat "$T/perr" >&2; fail "round $round: producer exited $rc before the kill"; }
  [ "$live_rc" -eq 0 ] || { cat "$T/live.err" >&2; fail "round $round: replay during appends exited $live_rc"; }
  expect_empty "$T/live.err" "round $round: stderr of replay during appends"
  mapfile -t lines <"$T/live"
  live=${#lines[@]}
  [ "$live" -ge $((total_receipts + tears + seen)) ] ||
    fail "round $round: replay during appends showed $live events, $((total_receipts + tears + seen)) were receipted"

  receipt_files+=("$rec")
  if [ $((round % 20)) -eq 0 ]; then check_log all "${receipt_files[@]}"; else check_log new "$rec"; fi
  mapfile -t lines <"$rec"
  total_receipts=$((total_receipts + ${#lines[@]}))

  if [ $((round % 10)) -eq 0 ]; then
    p=$((RANDOM % partitions))
    tear_tail "$p"
    tears=$((tears + 1))
    prev_end=$((ends[p] + FILLED))
    check_log new  # the torn batch is invisible to readers
    expect_eq "$prev_end" "${ends[p]}" "round $round: end of partition $p with a torn batch at its tail"
    expect_not_contains "$T/ids" "r$round-torn" "round $round: records replayed with a torn batch at the tail"
    printf '{"id":"r%d-t","round":%d,"seq":"t"}\n' "$round" "$round" >"$T/one"
    expect_exit 0 pspf-produce k -p "$p" --key-field id --receipts "$T/one"
    expect_contains "$ERR" "cut off a torn tail of $TORN_BYTES bytes" "round $round: producer after a torn batch"
    expect_eq "{\"partition\":$p,\"offset\":$prev_end}" "$(jq -c '{partition,offset}' "$OUT")" \
      "round $round: the append after a torn batch"
    cp "$OUT" "$T/rec.$round.t"
    receipt_files+=("$T/rec.$round.t")
  fi
done

# All receipts of all rounds, checked against the final log.
round=final
check_log all "${receipt_files[@]}"
expect_exit 0 pspf-topics verify k
expect_eq "$partitions" "$(grep -c ': ok, ' "$OUT")" "partitions verified ok"

echo "ok: $rounds kills, $total_receipts receipted events, $tears torn batches cut, $(line_count "$T/ids") events in the log, $((SECONDS - started))s"
