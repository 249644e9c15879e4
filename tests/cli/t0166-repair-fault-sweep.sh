#!/usr/bin/env bash
# pspf-topics repair killed, or failed with EIO, at each of its calls that change
# files (pwrite64, write, fdatasync, fsync, ftruncate, renameat, unlinkat) in turn,
# on a partition of three segments whose middle one is damaged (pspf-log(5),
# QUARANTINE: the copy is synced before the cut, so a crash leaves the bytes in both
# places, never in neither). After every run: each byte of each segment is still in
# the segment or in a quarantine file of it at its place; a second repair exits 0
# and leaves the same; verify finds nothing wrong, pspf-replay prints what a repair
# that never failed leaves, and the next append takes the first offset cut.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

base=$T/base
export PSPF_DIR=$base
expect_exit 0 pspf-topics create t -P 1 --segment-bytes 2048
# 15 appends of 20 events: segments of 5 batches (offsets 0, 100 and 200). Each
# append reads a file: from a pipe, a pause in the input (a busy machine) would end
# a batch early and change the layout.
for ((i = 0; i < 15; i++)); do
  for ((j = 1; j <= 20; j++)); do printf '{"k":"k%d","n":%d}\n' $((j % 7)) $((100 * i + j)); done \
    >"$T/append.in"
  pspf-produce -q t --key-field k "$T/append.in" || fail "append $i failed"
done
P=$base/topics/t/0
mapfile -t segs < <(cd "$P" && ls -- *.log)
expect_eq 3 "${#segs[@]}" "segments"
mid=$(segment_path t 0 100)
mapfile -t pos < <(batch_positions "$mid")
expect_eq 5 "${#pos[@]}" "batches in the middle segment"
flip_byte "$mid" $((pos[2] + 100))  # the records of its third batch: offsets 140 to 159

# The reference: a repair that never failed cuts from offset 140 on.
export PSPF_DIR=$T/ref
cp -a "$base" "$PSPF_DIR"
expect_exit 0 pspf-topics repair t
pspf-replay t >"$T/ref.out"
expect_eq 140 "$(wc -l <"$T/ref.out")" "events after a clean repair"

# conserved: every byte of each original segment is in the segment (a prefix of it)
# or in a quarantine file of it at its position.
conserved() {  # WHAT
  local s orig now size kept q at len covered
  for s in "${segs[@]}"; do
    orig=$base/topics/t/0/$s now=$PSPF_DIR/topics/t/0/$s
    size=$(stat -c %s "$orig")
    kept=0
    [ -e "$now" ] && kept=$(stat -c %s "$now")
    [ "$kept" -le "$size" ] || fail "$s grew after $1"
    cmp -s -n "$kept" "$orig" "$now" 2>/dev/null || [ "$kept" -eq 0 ] ||
      fail "$s: the bytes kept differ after $1"
    covered=$kept
    for q in "$now".*.quarantine; do
      [ -e "$q" ] || continue
      at=${q#"$now".} at=${at%%.*} len=$(stat -c %s "$q")
      cmp -s "$q" <(tail -c +$((at + 1)) "$orig" | head -c "$len") ||
        fail "$q does not hold bytes $at.. of $s after $1"
      if [ "$at" -le "$covered" ] && [ $((at + len)) -gt "$covered" ]; then covered=$((at + len)); fi
    done
    [ "$covered" -ge "$size" ] || fail "$s: bytes $covered to $size are nowhere after $1"
  done
}

export PSPF_DIR=$T/data
check() {  # RC WHAT
  shift
  conserved "$1"
  expect_exit 0 pspf-topics repair t
  conserved "$1 and a second repair"
  expect_exit 0 pspf-topics verify t
  pspf-replay t >"$T/now.out"
  expect_same_file "$T/ref.out" "$T/now.out" "events after $1 and a second repair"
  echo '{"k":"late"}' | expect_exit 0 pspf-produce t --receipts
  expect_eq 140 "$(jq .offset "$OUT")" "offset of the append after $1"
}

fresh() { rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"; }
fault_sweep "pwrite64 write fdatasync fsync ftruncate renameat unlinkat" fresh check \
  pspf-topics repair t
points=$SWEPT
[ "$points" -ge 20 ] || fail "only $points points were swept"
echo "ok: $points points"
