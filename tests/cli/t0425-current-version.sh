#!/usr/bin/env bash
# pspf-replay --key K --current-version reads without the partition lock and changes
# nothing (pspf-replay(1)): it answers while a producer holds the lock, counts only
# what is durable, and agrees with --expect-version whether the key index is there,
# missing, or behind the log.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

version() { pspf-replay t --key "$1" --current-version; }
expect_exit 0 pspf-topics create t -P 1
for i in 1 2 3 4 5; do echo "{\"n\":$i}"; done | pspf-produce t -k a -q
echo '{"n":1}' | pspf-produce t -k b -q
expect_eq "4 0 -1" "$(version a) $(version b) $(version c)" "versions of a (5 events), b (1), c (none)"

# Without a key index (plain appends build none) the log is read, and nothing is
# written: the index is a writer's to build.
part=$PSPF_DIR/topics/t/0
rm -f "$part/keys.hix"
before=$(tree_digest "$part")
expect_eq "4 0 -1" "$(version a) $(version b) $(version c)" "versions without a key index"
expect_eq "$before" "$(tree_digest "$part")" "nothing written by --current-version"
# With the index (an --expect-version append builds it), and with one behind the log.
echo '{"n":6}' | expect_exit 0 pspf-produce t -k a --expect-version 4 -q
[ -e "$part/keys.hix" ] || fail "an --expect-version append built no key index"
expect_eq "5 0 -1" "$(version a) $(version b) $(version c)" "versions from the key index"
cp "$part/keys.hix" keys.old
for i in 7 8; do echo "{\"n\":$i}"; done | pspf-produce t -k a -q
cp keys.old "$part/keys.hix"
expect_eq "7 0" "$(version a) $(version b)" "versions from an index behind the log"

# A producer holding the partition lock is not waited for.
flock -o "$part/lock" sleep 30 &  # -o: flock holds the lock, not the sleep
holder=$!
BG_PIDS+=("$holder")
held() { ! flock -n "$part/lock" true; }
wait_until 10 "the lock to be held" held
expect_exit 0 timeout 5 pspf-replay t --key a --current-version
expect_eq 7 "$(cat "$OUT")" "version while another process holds the lock"
pkill -P "$holder" sleep  # flock then exits, and the lock is free
wait "$holder" || true
held && fail "the lock is still held"

# Only durable records count: a batch whose sync has not returned is not counted.
command -v strace >/dev/null || skip "strace is not installed (the rest needs it)"
seg=$(segment_path t 0)
size0=$(stat -c %s "$seg")
echo '{"n":9}' >nine.jsonl
bg_start strace -f -o /dev/null -e inject=fdatasync:delay_enter=4000000:when=1 \
  pspf-produce -q t -k a --sync batch nine.jsonl
producer=$BG_PID
grown() { [ "$(stat -c %s "$seg")" -gt "$size0" ]; }
wait_until 20 "the producer's batch to be written" grown
expect_exit 0 timeout 3 pspf-replay t --key a --current-version
expect_eq 7 "$(cat "$OUT")" "version while the next event of a is not synced"
kill -0 "$producer" 2>/dev/null || fail "the producer finished first: the check proved nothing"
wait "$producer"
expect_eq 8 "$(version a)" "version once it is synced"
echo '{"n":10}' | expect_exit 0 pspf-produce t -k a --expect-version 8 -q
echo ok
