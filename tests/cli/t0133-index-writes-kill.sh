#!/usr/bin/env bash
# A producer that appends one event to a partition whose indexes are big and not
# populated by it changes them with pwrite(2), not through the mapping
# (pspf/hash_index.h, MappedTable::write): the id index's slot and header, and the
# key index's slot of the key it appends to. That producer, with --id-field and
# --expect-version, killed at each of its calls of pwrite64 and openat in turn, and
# with EIO at each pwrite64 (one on an index falls back to a store into the mapping;
# one on the log fails the run). After every run: verify finds nothing wrong; a
# re-run leaves the event in the log once; an id of the import is still refused as a
# duplicate; the key's version counts its events; and an append that expects that
# version is taken.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e inject=pwrite64:signal=KILL:when=1 true 2>/dev/null ||
  skip "this strace cannot inject faults"

base=$T/base
export PSPF_DIR=$base
pspf-topics create t -P 1 >/dev/null
# 20,000 ids: an id index of 40,000 slots (640 KB), which a producer of one event
# does not populate. 100 keys, so the key index has k7's slot before the sweep.
seq 1 20000 | jq -c '{id: "e\(.)", k: "k\(. % 100)"}' >import.jsonl
pspf-produce -q t --key-field k --id-field id import.jsonl
echo '{"id":"seed","k":"k7"}' | pspf-produce -q t --key-field k --id-field id --expect-version 199
export PSPF_DIR=$T/data

version_of_k7() { pspf-replay t --key k7 --current-version; }
echo '{"id":"x","k":"k7"}' >x.json
one=(pspf-produce -q t --key-field k --id-field id --expect-version 200)

# The producer of one event writes both indexes with pwrite64.
cp -a "$base" "$PSPF_DIR"
strace -f -y -o "$T/clean" -e trace=pwrite64 "${one[@]}" <x.json ||
  fail "the clean run failed"
grep -q 'pwrite64([0-9]*<[^>]*/ids.hix>' "$T/clean" || fail "no pwrite64 on ids.hix"
grep -q 'pwrite64([0-9]*<[^>]*/keys.hix>' "$T/clean" || fail "no pwrite64 on keys.hix"

# check WHAT: the state after a run that was killed or failed. (Before the re-run,
# a record the killed run wrote but did not sync is not yet durable: it is counted
# in k7's version once the next writer has synced it.)
check() {
  expect_exit 0 pspf-topics verify t
  echo '{"id":"x","k":"k7"}' | expect_exit 0 pspf-produce -q t --key-field k --id-field id
  expect_eq 1 "$(pspf-replay t | jq -c 'select(.id == "x")' | wc -l)" "copies of x after $1"
  echo '{"id":"e777","k":"k77"}' | expect_exit 0 pspf-produce -q t --key-field k --id-field id
  expect_eq 20002 "$(pspf-replay t | wc -l)" "events after $1 and two re-runs"
  expect_eq 201 "$(version_of_k7)" "k7's version after $1 (200 imported, seed, x)"
  echo '{"id":"y","k":"k7"}' |
    expect_exit 0 pspf-produce -q t --key-field k --id-field id --expect-version 201
  expect_eq 203 "$(pspf-replay t --key k7 | wc -l)" "k7's events after $1 and y"
  expect_eq 202 "$(version_of_k7)" "k7's version after $1 and y"
}

points=0
for sc in pwrite64 openat; do
  rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
  strace -f -o "$T/count" -e trace="$sc" "${one[@]}" <x.json || fail "counting $sc"
  calls=$(grep -c "$sc(" "$T/count" || true)
  [ "$calls" -gt 0 ] || fail "no $sc call to sweep"
  for ((n = 1; n <= calls; n++)); do
    for inject in signal=KILL error=EIO; do
      [ "$sc" = openat ] && [ "$inject" = error=EIO ] && continue
      rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
      strace -f -o /dev/null -e inject="$sc:$inject:when=$n" "${one[@]}" <x.json >/dev/null 2>&1 ||
        true
      check "$inject at $sc #$n"
      points=$((points + 1))
    done
  done
done
[ "$points" -ge 20 ] || fail "only $points points were swept"
echo "ok: $points points"
