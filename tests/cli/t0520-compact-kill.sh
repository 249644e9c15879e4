#!/usr/bin/env bash
# 50 times: append more keyed events, keyless events and tombstones, then SIGKILL
# `pspf-compact --roll` at a random instant of its run (uniform over the time an
# unkilled compaction of a copy of the same data takes). After each kill the topic
# verifies and shows the same latest value per key and the same keyless events as
# before; the next pspf-compact finishes or rolls back what the dead one left (no
# swap file remains) and the content is still the same. Tombstones are dropped at
# once (--delete-retention 0s), so the order of the swaps matters.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

rounds=${PSPF_KILL_ROUNDS:-50}
RANDOM=520
expect_exit 0 pspf-topics create k -P 2 --segment-bytes 8192 --cleanup compact --delete-retention 0s

# append ROUND: 3 produce runs of 100 events over 150 keys (1 in 6 a tombstone, 1 in
# 10 without a key).
append() {
  local r=$1 c i n k
  for ((c = 0; c < 3; c++)); do
    for ((i = 0; i < 100; i++)); do
      n=$((RANDOM % 60)); k=$((RANDOM % 150))
      if ((n < 6)); then printf '{"value":{"r":%d,"i":%d}}\n' "$r" "$i"
      elif ((n < 16)); then printf '{"key":"k%d","value":null}\n' "$k"
      else printf '{"key":"k%d","value":{"r":%d,"c":%d,"i":%d}}\n' "$k" "$r" "$c" "$i"; fi
    done >chunk
    pspf-produce k -J -q chunk || fail "round $r: produce failed"
  done
}
view() {  # DATA-DIR OUT: latest view and keyless events
  pspf-replay -d "$1" k --latest | sort >"$2.latest" || fail "round $round: replay --latest failed"
  pspf-replay -d "$1" k -J | jq -c 'select(.key == null) | [.partition, .offset, .value]' | sort >"$2.keyless"
}
same_view() {  # WHAT
  view "$PSPF_DIR" now
  expect_same_file ref.latest now.latest "round $round: latest values $1"
  expect_same_file ref.keyless now.keyless "round $round: keyless events $1"
}
swap_files() { find "$PSPF_DIR/topics/k" -name '*.cleaned' | wc -l | tr -d ' '; }

killed=0
leftovers=0
started=$SECONDS
for ((round = 1; round <= rounds; round++)); do
  append "$round"
  view "$PSPF_DIR" ref
  # How long a whole compaction of this data takes, measured on a copy.
  rm -rf copy && cp -a "$PSPF_DIR" copy
  t0=${EPOCHREALTIME/./}
  pspf-compact -d copy k --roll -q || fail "round $round: compaction of the copy failed"
  us=$((${EPOCHREALTIME/./} - t0))
  delay=$((RANDOM * 32768 + RANDOM))
  delay=$((delay % (us + us / 10 + 1)))
  pspf-compact k --roll -q 2>compact.err &
  pid=$!
  BG_PIDS+=("$pid")
  nap "$(printf '0.%06d' "$delay")"
  kill -9 "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" 2>/dev/null || rc=$?  # (quiet: bash would report "Killed")
  if [ "$rc" -eq 137 ]; then killed=$((killed + 1)); elif [ "$rc" -ne 0 ]; then cat compact.err >&2; fail "round $round: pspf-compact exited $rc"; fi
  found=$(swap_files)
  [ "$found" -eq 0 ] || leftovers=$((leftovers + 1))
  expect_exit 0 pspf-topics verify k
  same_view "after a kill $delay us into a ${us} us compaction (exit $rc, $found swap files left)"
  expect_exit 0 pspf-compact k
  expect_eq 0 "$(swap_files)" "round $round: swap files after the next compaction"
  same_view "after the next compaction"
done
[ "$killed" -ge $((rounds / 4)) ] || fail "only $killed of $rounds compactions were killed before they ended"
[ "$leftovers" -ge 1 ] || fail "no kill ever left swap files behind: the kills miss the swap"
echo "ok: $rounds rounds, $killed killed mid-run, $leftovers left swap files, $((SECONDS - started))s"
