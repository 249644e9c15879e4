#!/usr/bin/env bash
# No batch is ever larger than the log format allows (268435456 bytes, pspf-log(5)):
# - --max-record-bytes above 267386880 is a usage error;
# - a record that would push the batch being built past the limit goes into the
#   next batch: both events come back, in two batches, and verify is content;
# - a record too big for a batch even alone (a 2 MB key besides a 255 MiB value)
#   is invalid input (exit 65) naming its line; the lines before it are appended;
# - pspf-consume --exec --to refuses an output line too big for a batch: nothing
#   of the batch is appended, nothing is committed.
# Each case builds lines of about 255 MiB (about 1 GB of memory; 15 s of CPU in
# all).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cap=267386880

expect_exit 2 pspf-produce t --max-record-bytes $((cap + 1)) <<<'{}'
expect_contains "$ERR" "--max-record-bytes"
[ ! -e "$PSPF_DIR/topics/t" ] || fail "a usage error created the topic"
expect_exit 0 pspf-produce t --max-record-bytes "$cap" -q <<<'{}'

# x N: N bytes of 'x'.
x() { head -c "$1" /dev/zero | tr '\0' x; }
# big_line KEY_BYTES: {"k":"<KEY>","pad":"<PAD>"}, PAD sized so that the line and
# its stored value are both exactly $cap bytes long.
big_line() {
  printf '{"k":"'
  x "$1"
  printf '","pad":"'
  x $((cap - 17 - $1))
  printf '"}\n'
}
small_line() { printf '{"k":"a","pad":"%s"}\n' "$(x 1000000)"; }

# The first line fills most of a 1 MiB batch; the second (a 600 kB key, so the
# record is 267986895 bytes) fits in a batch alone but not after the first.
{ small_line; big_line 600000; } >push.jsonl
expect_exit 0 pspf-produce push --key-field k --partitions 1 --max-record-bytes "$cap" push.jsonl
expect_contains "$ERR" "appended 2 events to topic push"
expect_exit 0 pspf-topics verify push
expect_contains "$OUT" "topic push partition 0: ok, 2 records"
# (verify checked both batches' checksums; reading the 255 MiB back would add
# seconds and prove no more)
expect_eq "0 1000082" "$(batch_positions "$(segment_path push 0)" | paste -sd' ')" "push: the batches"
rm -f push.jsonl

# A 2 MB key: the record is 269386895 bytes, more than a batch holds.
{ small_line; big_line 2000000; } >huge.jsonl
expect_exit 65 pspf-produce huge --key-field k --partitions 1 --max-record-bytes "$cap" huge.jsonl
expect_contains "$ERR" "pspf-produce: error: huge.jsonl:2: record of 269386895 bytes does not fit in a batch (at most 268435456 bytes, see pspf-log(5)) (lines before it were appended"
expect_exit 0 pspf-topics verify huge
expect_exit 0 pspf-replay huge
expect_lines 1 "$OUT" "huge: the line before the refused one"
rm -f huge.jsonl

# --exec --to: a command printing a line too big for a batch (a 268435400-byte
# string: with its 13-byte derived id the record is 268435429 bytes, 56 more with
# the batch header).
{ printf '"'; x 268435400; printf '"\n'; } >big.json
expect_exit 0 pspf-produce src --partitions 1 -q <<<'{"n":1}'
expect_exit 0 pspf-topics create out -P 1
expect_exit 1 pspf-consume -g g src -e --exec "cat $T/big.json" --to out --max-attempts 1
expect_contains "$ERR" "output line 1: record of 268435429 bytes does not fit in a batch"
expect_exit 0 pspf-topics verify out
expect_exit 0 pspf-replay out
expect_empty "$OUT" "out after a refused output line"
expect_exit 0 pspf-offsets describe -g g --json
jq -e '.[0].lag == 1' "$OUT" >/dev/null || fail "the refused batch was committed"
echo ok
