#!/usr/bin/env bash
# Compaction benchmark: builds a topic of about 1 GB (by default) holding 10,000 keys,
# then times `pspf-compact --roll` on it and reports input MB/s and peak RSS. Checks
# that the latest value per key is the same before and after. See tests/bench/README.md.
set -u -o pipefail
export LC_ALL=C

usage() {
  cat <<'EOF2'
Usage: tests/bench/compact.sh [OPTIONS]

Builds a topic of about --mb MB of inventory-like JSON events over --keys keys
(4 partitions, segments of 64 MiB, --sync none), runs `pspf-compact --roll` on it
under /usr/bin/time -v, and prints a Markdown table: input MB, seconds, MB/s,
peak RSS, records before and after. Then checks that `pspf-replay --latest` is
the same before and after, and measures a second compaction (nothing left to do).

Options:
  --mb N       approximate topic size in MB (default 1000)
  --keys N     number of distinct keys (default 10000)
  --dir DIR    work folder (default: a temporary folder under ${TMPDIR:-/tmp}, removed)
  --bin DIR    folder with the pspf tools (default: build/tools of this repository)
  -h, --help   print this help and exit

Exit status: 0 done, 1 a command failed or the latest view changed, 2 usage error.
EOF2
}

note() { printf 'compact-bench: %s\n' "$*" >&2; }
die() { note "FAILED: $*"; exit 1; }

mb=1000 keys=10000 dir="" bin=""
while [ $# -gt 0 ]; do
  case $1 in
    --mb) mb=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${bin:-$top/build/tools}
[ -x "$bin/pspf-compact" ] || { note "no $bin/pspf-compact: build first"; exit 2; }
export PATH="$bin:$PATH"
if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pspf-compact-bench.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"
data=$dir/data
rm -rf "$data"

# A file of events (116 bytes of JSON each, about 102 once stored) appended 10 times:
# the same
# keys come back again and again, as in a table updated all day.
chunk=$dir/events.jsonl
lines=$(( (mb * 1000000 / 10) / 102 ))  # about 102 bytes each once stored
note "generating $lines events over $keys keys"
awk -v n="$lines" -v keys="$keys" 'BEGIN { srand(7); for (i = 0; i < n; i++)
  printf "{\"event_id\":\"e-%07d\",\"type\":\"ITEM_CHECKED_IN\",\"item\":{\"id\":\"item-%d\",\"qty\":%d},\"user\":\"u%d\",\"ts\":%d}\n",
    i, int(rand() * keys), int(rand() * 100), int(rand() * 1000), 1764000000000 + i }' >"$chunk"
pspf-topics -d "$data" create inv -P 4 --cleanup compact 2>/dev/null || die "create"
note "producing 10 x $(stat -c %s "$chunk") bytes"
for ((i = 0; i < 10; i++)); do
  pspf-produce -d "$data" inv --key-field item.id --sync none -q "$chunk" || die "produce"
done
before=$(pspf-topics -d "$data" describe inv --json | jq '[.partition_details[] | .bytes] | add')
records=$(pspf-topics -d "$data" describe inv --json | jq '[.partition_details[] | .records] | add')
pspf-replay -d "$data" inv --latest | sort >"$dir/latest.before" || die "replay --latest"
sync

run() {  # LABEL: one compaction under /usr/bin/time -v; appends a table row
  local t0 t1 secs rss after left
  t0=${EPOCHREALTIME/./}
  /usr/bin/time -v pspf-compact -d "$data" inv --roll -q 2>"$dir/time.txt" || { cat "$dir/time.txt" >&2; die "pspf-compact"; }
  t1=${EPOCHREALTIME/./}
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$dir/time.txt")
  after=$(pspf-topics -d "$data" describe inv --json | jq '[.partition_details[] | .bytes] | add')
  left=$(pspf-topics -d "$data" describe inv --json | jq '[.partition_details[] | .records] | add')
  printf '| %s | %.1f | %s | %.0f | %s | %s | %s |\n' "$1" "$(awk -v b="$2" 'BEGIN { print b / 1e6 }')" \
    "$secs" "$(awk -v b="$2" -v s="$secs" 'BEGIN { print b / 1e6 / s }')" "$rss" "$3" "$left"
  AFTER=$after
  secs_of_run=$secs
}
printf '# pspf-compact, %s MB target, %s keys (%s, %s, %s)\n\n' "$mb" "$keys" "$(stat -f -c %T "$dir")" \
  "$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')" "$(date -u +%F)"
echo '| run | input MB | seconds | MB/s | peak RSS MiB | records before | records after |'
echo '|---|---|---|---|---|---|---|'
# The floor: a plain copy of the same files, then their sync (pspf-compact syncs what
# it writes), timed the same way.
t0=${EPOCHREALTIME/./}
cp -r -- "$data/topics/inv" "$dir/copy" || die "cp"
t1=${EPOCHREALTIME/./}
sync -f "$dir/copy" || die "sync"
t2=${EPOCHREALTIME/./}
cp_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
cp_sync_secs=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
rm -rf -- "$dir/copy"
sync
run "first compaction" "$before" "$records"
compact_secs=$secs_of_run
pspf-replay -d "$data" inv --latest | sort >"$dir/latest.after" || die "replay --latest"
cmp -s "$dir/latest.before" "$dir/latest.after" || die "the latest value per key changed"
run "again (nothing to remove)" "$AFTER" "$(wc -l <"$dir/latest.after")"
printf '| cp -r of the same files | %.1f | %s | %.0f | | | |\n' "$(awk -v b="$before" 'BEGIN { print b / 1e6 }')" \
  "$cp_secs" "$(awk -v b="$before" -v s="$cp_secs" 'BEGIN { print b / 1e6 / s }')"
printf '| cp -r, then sync | %.1f | %s | %.0f | | | |\n' "$(awk -v b="$before" 'BEGIN { print b / 1e6 }')" \
  "$cp_sync_secs" "$(awk -v b="$before" -v s="$cp_sync_secs" 'BEGIN { print b / 1e6 / s }')"
printf '\nFirst compaction against the copy: %sx the speed of cp -r, %sx of cp -r then sync.\n' \
  "$(awk -v c="$cp_secs" -v s="$compact_secs" 'BEGIN { printf "%.2f", c / s }')" \
  "$(awk -v c="$cp_sync_secs" -v s="$compact_secs" 'BEGIN { printf "%.2f", c / s }')"
note "ok: latest view unchanged ($(wc -l <"$dir/latest.after") keys)"
