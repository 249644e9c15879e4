#!/usr/bin/env bash
# A read error (EIO, injected with strace) at each read a pspf-produce makes of a
# partition's files (segment, .index, .timeindex, the lock file with the durable end):
# the command ends with exit 1 or 0, never by a signal; an error names the file it
# could not read; and the events the message says were appended are the ones the log
# holds afterwards (a producer that fails to read retries once before it reports).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o /dev/null -e trace=pread64 true 2>/dev/null || skip "strace cannot trace here"

# A partition with index entries: 3000 events in batches of 100 lines.
seq 1 3000 | sed 's/.*/{"n":&,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}/' >"$T/events"
split -l 100 "$T/events" "$T/part."
for f in "$T"/part.*; do pspf-produce -q -d "$T/base" one --partitions 1 --sync none "$f"; done
p="$T/base/topics/one/0"
[ -s "$p/00000000000000000000.index" ] || fail "no index entries to read"
before=3000

# The files to fail reads of, as strace -P names them in $T/d (the copy each run uses).
files=(00000000000000000000.log 00000000000000000000.index 00000000000000000000.timeindex lock)
seen=0
for n in $(seq 1 40); do
  rm -rf "$T/d" && cp -a "$T/base" "$T/d"
  paths=()
  for f in "${files[@]}"; do paths+=(-P "$T/d/topics/one/0/$f"); done
  rc=0
  echo '{"n":0}' | strace -f -o "$T/trace" "${paths[@]}" -e trace=pread64 \
    -e inject=pread64:error=EIO:when="$n" pspf-produce -q -d "$T/d" one 2>"$T/err" || rc=$?
  grep -q INJECTED "$T/trace" || break  # past the last read: the sweep is over
  seen=$((seen + 1))
  [ "$rc" -le 1 ] || fail "read error at read $n: exit $rc ($(cat "$T/err"))"
  have=$(pspf-replay -d "$T/d" one | wc -l)
  if [ "$rc" -eq 1 ]; then
    expect_contains "$T/err" "Input/output error" "the message at read $n"
    said=$(grep -o '[0-9]* events\? \(was\|were\) appended' "$T/err" | grep -o '^[0-9]*' || echo 0)
  else
    said=1
  fi
  expect_eq $((before + said)) "$have" "events in the log after a read error at read $n"
done
[ "$seen" -ge 5 ] || fail "only $seen reads were failed: the sweep did not reach the files"
echo "ok: a read error at each of $seen reads"
