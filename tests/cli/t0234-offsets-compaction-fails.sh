#!/usr/bin/env bash
# A commit is durable before offsets.log is compacted (pspf/group_offsets.h), so a
# compaction that fails (a full disk, an I/O error) must not turn it into a failure:
# a script that reads "exit 1" as "not committed" would discard events that the
# group will never hand out again. The compaction is retried at a later commit.
#  1. pspf-offsets reset, whose commit makes offsets.log pass its compaction size,
#     with each step of the compaction failing in turn (the synced length's sync,
#     the new file's write, its sync, the rename, the directory's sync): exit 0;
#     the group's offsets are the new ones; the published synced length is that of
#     the file in place; no temporary file is left; the next reset compacts.
#  2. A member whose first commit (its claim) compacts, the directory sync after the
#     rename failing: its later commits go to the file now in place, so the group's
#     offsets after the run are those of every event it handed out.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is not installed"
strace -f --seccomp-bpf -o /dev/null -e trace=fdatasync -e inject=fdatasync:error=EIO:when=1 true \
  2>/dev/null || skip "this strace cannot inject faults"

# A topic of 1000 partitions with one event in partition 0: each reset of it writes
# one record of 1000 entries. offsets.log is filled to just under the size (1 MiB) at
# which a commit compacts it, close enough that the next reset of "big" passes it.
# An entry is 36 bytes, the topic's name and the member's ("pspf-offsets:PID", 14 to
# 20 bytes: the pid has 1 to 7 digits), and a record adds a 16-byte header. So the
# fill cannot be a fixed number of resets (with 3-digit pids, 19 of them stay under
# 1 MiB): it takes resets of "big" while one more cannot pass the size, then resets
# of "small" (100 partitions, at most 5916 bytes each) until one of "big" must.
pspf-topics create big -P 1000 >/dev/null
pspf-topics create small -P 100 >/dev/null
echo '{"a":1}' | pspf-produce -q big -p 0
reset() { pspf-offsets reset -g g --topic "${2:-big}" "--to-$1" --execute; }
log=$PSPF_DIR/groups/g/offsets.log
lock=$PSPF_DIR/groups/g/lock
limit=$((1 << 20)) big_min=$((1000 * (36 + 3 + 14) + 16)) big_max=$((1000 * (36 + 3 + 20) + 16))
size=0
for ((i = 0; size + big_max < limit; i++)); do
  ((i < 40)) || fail "offsets.log is $size bytes after $i resets of big"
  reset earliest >/dev/null 2>&1 || fail "reset $i of big"
  size=$(stat -c %s "$log")
done
for ((i = 0; size + big_min < limit; i++)); do
  ((i < 40)) || fail "offsets.log is $size bytes after $i resets of small"
  reset earliest small >/dev/null 2>&1 || fail "reset $i of small"
  size=$(stat -c %s "$log")
done
if [ "$size" -le 900000 ] || [ "$size" -ge "$limit" ]; then
  fail "offsets.log is $size bytes before the test"
fi
base=$T/base
cp -a "$PSPF_DIR" "$base"

# offset_of_p0: the committed offset of partition 0 (latest: 1, earliest: 0).
offset_of_p0() {
  pspf-offsets describe -g g --json | jq -r '.[] | select(.topic == "big" and .partition == 0) | .current_offset'
}
# check_state WHAT: the published synced length is the size of the file in place,
# and no temporary file is left.
check_state() {
  expect_eq "$(stat -c %s "$log")" "$(i64_at "$lock" 8)" "synced length after $1"
  expect_eq "" "$(find "$PSPF_DIR/groups/g" -name '*.tmp.*')" "temporary files after $1"
}

# A clean run first: the reset compacts, and the calls of the compaction are found.
strace -f --seccomp-bpf -y -o "$T/clean.trace" -e trace=fdatasync,fsync,pwrite64,renameat,rename pspf-offsets \
  reset -g g --topic big --to-latest --execute >/dev/null 2>&1 || fail "the clean reset failed"
[ "$(stat -c %s "$log")" -lt "$size" ] || fail "the clean reset did not compact offsets.log"
# nth CALL PATTERN: the number of the first CALL whose line matches PATTERN.
nth() {
  awk -v c="$1(" -v pat="$2" 'index($0, c) { n++; if ($0 ~ pat) { print n; exit } }' "$T/clean.trace"
}
points=(
  "fdatasync:$(nth fdatasync 'groups/g/lock>')"
  "pwrite64:$(nth pwrite64 'offsets.log.tmp')"
  "fdatasync:$(nth fdatasync 'offsets.log.tmp')"
  "renameat:$(nth renameat 'offsets.log.tmp')"
  "fsync:$(nth fsync 'groups/g>')"
)

# --- 1. Each step of the compaction failing.
for point in "${points[@]}"; do
  sc=${point%%:*} n=${point#*:}
  [ -n "$n" ] || fail "no $sc call of the compaction in the clean trace"
  err=EIO
  [ "$sc" = pwrite64 ] && err=ENOSPC
  rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
  rc=0
  strace -f --seccomp-bpf -o /dev/null -e trace="$sc" -e inject="$sc:error=$err:when=$n" \
    pspf-offsets reset -g g --topic big --to-latest --execute >/dev/null 2>"$T/err" || rc=$?
  expect_eq 0 "$rc" "reset with $err at $sc #$n of the compaction ($(cat "$T/err"))"
  expect_eq 1 "$(offset_of_p0)" "committed offset after $err at $sc #$n"
  check_state "$err at $sc #$n"
  expect_exit 0 reset earliest
  expect_eq 0 "$(offset_of_p0)" "committed offset after the next reset ($sc #$n)"
  check_state "the reset after $err at $sc #$n"
  [ "$(stat -c %s "$log")" -lt 900000 ] || fail "the reset after $sc #$n did not compact"
done

# --- 2. A member that goes on committing after a compaction failed past its rename.
rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
seq 1 3000 | jq -c '{k: ("k\(.)")}' | pspf-produce -q big --key-field k
rm -rf "$base" && cp -a "$PSPF_DIR" "$base"
# The member's commits: its claim (which compacts), then those of what it hands out.
# The fsync to fail: the first after the rename of the compacted file (the group
# directory's), counted in a clean run.
strace -f --seccomp-bpf -y -o "$T/m.trace" -e trace=fsync,renameat pspf-consume -g g big -e >/dev/null 2>&1 || true
n=$(awk '/fsync\(/ { n++ } /renameat\(.*offsets.log.tmp/ { print n + 1; exit }' "$T/m.trace")
[ -n "$n" ] || fail "the member did not compact offsets.log"
rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"
rc=0
strace -f --seccomp-bpf -o /dev/null -e trace=fsync -e inject=fsync:error=EIO:when="$n" \
  pspf-consume -g g big -e >"$T/handed" \
  2>"$T/err" || rc=$?
expect_eq 0 "$rc" "a member with EIO at the directory sync of its compaction ($(cat "$T/err"))"
expect_eq 3001 "$(wc -l <"$T/handed")" "events handed out"
check_state "the member's run"
expect_exit 0 pspf-consume -g g big -e
expect_lines 0 "$OUT" "events handed out again by the next member"
echo ok
