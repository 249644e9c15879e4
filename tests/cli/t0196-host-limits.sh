#!/usr/bin/env bash
# Limits of the host:
# - open files: a keyed, deduplicated import into 200 partitions works under a soft
#   limit of 1024 (the tools raise the soft limit to the hard one); when the hard
#   limit itself is too low the command exits 1 saying so, no crash;
# - index files are read only as far as their segment could need: a 4 GiB sparse
#   .index and .timeindex cost no memory (peak RSS stays small), and verify reports
#   them as damaged.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

expect_exit 0 pspf-topics create many -P 200
seq 1 4000 | sed 's/.*/{"id":"e&","key":"k&"}/' >"$T/in"
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -gt 2048 ]; then
  (
    ulimit -Sn 1024
    expect_exit 0 pspf-produce many --key-field key --id-field id -q "$T/in"
  )
  expect_exit 0 pspf-replay many
  expect_lines 4000 "$OUT" "events imported into 200 partitions"
  (
    ulimit -Sn 1024
    expect_exit 0 pspf-replay many
  )
  expect_lines 4000 "$OUT" "events read from 200 partitions under ulimit -Sn 1024"
else
  echo "$TEST_NAME: note: hard limit $(ulimit -Hn): the 1024 soft-limit case is not run" >&2
fi
(
  ulimit -n 40
  expect_exit 1 pspf-produce many --key-field key --id-field id -q "$T/in"
)
expect_contains "$ERR" "Too many open files (raise the limit on open files: ulimit -n)" \
  "import under a hard limit of 40"

# A 4 GiB sparse index.
expect_exit 0 pspf-topics create sparse -P 1
printf '{"n":%d}\n' 0 1 2 | pspf-produce sparse --sync always -q
truncate -s 4G "$(segment_path sparse 0 0 .index)" "$(segment_path sparse 0 0 .timeindex)"
/usr/bin/time -f %M -o "$T/rss" pspf-replay sparse --from 1 >"$OUT"
expect_eq $'{"n":1}\n{"n":2}' "$(cat "$OUT")" "replay from 1 with a huge index"
rss=$(tail -n 1 "$T/rss")
[ "$rss" -lt 100000 ] || fail "peak RSS of replay over a 4 GiB sparse index: $rss KiB"
/usr/bin/time -f %M -o "$T/rss" pspf-topics verify sparse >"$OUT" 2>"$ERR" || true
rss=$(tail -n 1 "$T/rss")
[ "$rss" -lt 100000 ] || fail "peak RSS of verify over a 4 GiB sparse index: $rss KiB"
expect_contains "$OUT" "index" "verify reports the huge index"
exit 0
