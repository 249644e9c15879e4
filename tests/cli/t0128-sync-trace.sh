#!/usr/bin/env bash
# Durability read from the system calls (strace -f -y, so fds show their paths):
#  1. pspf-produce --receipts --sync batch: at each write to stdout (a receipt) every
#     segment (.log) written since its last successful fdatasync/fsync has been synced
#     again, and so has every one before exit 0. Several batches, three partitions.
#  2. The same with --sync always, one record a batch.
#  3. pspf-consume -g G --exec CMD: every write to groups/G/offsets.log is followed by
#     a successful fdatasync of it before the next command starts (an execve, or a
#     clone that makes a process) and before exit.
#  4. Metadata: pspf-topics create and alter write topic.json to a temp file, sync
#     it, rename it into place, then fsync the directory before exit (create also
#     renames the new topic's directory into topics/, then syncs topics/).
#  5. The same for the rewrite of a group's offsets.log (once it has grown past
#     1 MiB of mostly stale records: here resets of a 500-partition topic).
# Each check counts what it saw, so it cannot pass on an empty trace; each fails when
# the data fdatasync (sync_data in lib/pspf/file.cpp) does nothing.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done
command -v strace >/dev/null || skip "strace is not installed"
strace -f -y -o /dev/null -e trace=fdatasync true 2>/dev/null || skip "strace cannot trace here"

# The data directory as strace -y shows it (symlinks resolved).
REAL_DATA="$(cd "$T" && pwd -P)/data"
SYSCALLS=fdatasync,fsync,pwrite64,pwritev,pwritev2,write,writev,rename,renameat,renameat2,execve,clone,clone3,fork,vfork

# trace OUTFILE CMD...: runs CMD under strace (stdout and stdin as given).
trace() {
  local out=$1
  shift
  strace -f -y -s 0 -o "$out" -e trace="$SYSCALLS" "$@"
}

# The awk below reads an strace -f -y trace. Each call is joined from its
# "<unfinished ...>" and "<... resumed>" halves first, then split into: pid, name,
# the path of its first argument's fd ("" if none), and its return value.
AWK_COMMON='
function parse(line,   i, rest, n, parts) {
  pid = line; sub(/ .*/, "", pid)
  if (line ~ /<unfinished \.\.\.>$/) { sub(/ <unfinished \.\.\.>$/, "", line); pend[pid] = line; return 0 }
  if (line ~ /<\.\.\. [a-z0-9_]+ resumed>/) { sub(/^.*resumed>/, "", line); line = pend[pid] line; delete pend[pid] }
  if (line ~ /^[0-9]+ +\+\+\+ exited with /) { name = "+exit"; ret = line; sub(/.*exited with /, "", ret); sub(/ .*/, "", ret); ret += 0; fd = ""; path = ""; return 1 }
  rest = line; sub(/^[0-9]+ +/, "", rest)
  if (rest !~ /^[a-z0-9_]+\(/) return 0
  name = rest; sub(/\(.*/, "", name)
  args = rest; sub(/^[a-z0-9_]+\(/, "", args)
  fd = ""; path = ""
  if (match(args, /^[0-9]+</)) {
    fd = substr(args, 1, RLENGTH - 1)
    path = substr(args, RLENGTH + 1); sub(/>.*/, "", path)
  } else if (match(args, /^[0-9]+[,)]/)) {
    fd = substr(args, 1, RLENGTH - 1)
  }
  n = split(rest, parts, / = /)
  ret = (n > 1) ? parts[n] + 0 : -1
  if (n > 1 && parts[n] ~ /^-1 /) ret = -1
  return 1
}
function is_write(n) { return n == "pwrite64" || n == "pwritev" || n == "pwritev2" || n == "write" || n == "writev" }
function is_sync(n) { return n == "fdatasync" || n == "fsync" }
'

# check_receipts TRACE MIN_RECEIPTS: every receipt (a write to fd 1) comes after the
# sync of every segment written before it, every segment is synced before exit 0, and
# at least MIN_RECEIPTS receipts were written. Prints what it counted.
check_receipts() {
  awk -v min="$2" -v topics="$REAL_DATA/topics/" "$AWK_COMMON"'
    function segment(p) { return index(p, topics) == 1 && p ~ /\.log$/ }
    { if (!parse($0)) next }
    is_write(name) && segment(path) && ret > 0 { dirty[path] = 1; writes++ }
    is_sync(name) && segment(path) && ret == 0 { if (path in dirty) syncs++; delete dirty[path] }
    is_write(name) && fd == "1" && ret > 0 {
      receipts++
      for (p in dirty) { print "receipt " receipts " written before " p " was synced"; bad = 1; exit }
    }
    name == "+exit" && ret == 0 {
      for (p in dirty) { print "exit 0 with " p " not synced since its last write"; bad = 1; exit }
    }
    END {
      if (bad) exit 1
      if (receipts < min || writes == 0 || syncs == 0) { print "too little seen: " receipts " receipts, " writes " segment writes, " syncs " syncs"; exit 1 }
      print receipts " receipts, " writes " segment writes, " syncs " syncs: each receipt after its sync"
    }' "$1"
}

# check_commits TRACE GROUP MIN_COMMITS: every write to the group's offsets.log is
# synced before the next command starts and before the process exits.
check_commits() {
  awk -v g="$REAL_DATA/groups/$2/offsets.log" -v min="$3" "$AWK_COMMON"'
    { if (!parse($0)) next }
    function check(what) { for (p in dirty) { print "offsets.log not synced before " what; bad = 1; exit } }
    is_write(name) && path == g && ret > 0 { dirty[path] = 1; writes++ }
    is_sync(name) && (path in dirty) && ret == 0 { delete dirty[path]; syncs++ }
    name == "execve" && ret == 0 { starts++; check("a command started (execve in " pid ")") }
    (name == "clone" || name == "clone3") && $0 !~ /CLONE_THREAD/ && ret > 0 { check("a process was made (" name " in " pid ")") }
    (name == "fork" || name == "vfork") && ret > 0 { check("a process was made (" name " in " pid ")") }
    name == "+exit" { check("process " pid " exited") }
    END {
      if (bad) exit 1
      if (writes < min || syncs < min) { print "too little seen: " writes " offsets.log writes, " syncs " syncs"; exit 1 }
      print writes " offsets.log writes, " syncs " syncs, " starts " execs: each write synced in time"
    }' "$1"
}

# check_renames TRACE PATTERN MIN: every rename whose target matches PATTERN (an awk
# regex) moves a file synced since its last write, and the directory of the target is
# fsynced after it, before the process exits.
check_renames() {
  awk -v pat="$2" -v min="$3" "$AWK_COMMON"'
    function dirname(p) { sub(/\/[^\/]*$/, "", p); return p }
    { if (!parse($0)) next }
    is_write(name) && path != "" && ret > 0 { synced[path] = 0 }
    is_sync(name) && path != "" && ret == 0 { synced[path] = 1; if (path in pending) { delete pending[path]; dirsyncs++ } }
    (name == "rename" || name == "renameat" || name == "renameat2") && ret == 0 {
      # rename("OLD", "NEW") or renameat(DIRFD<DIR>, "OLD", DIRFD<DIR>, "NEW"): quoted
      # names are shown as given; -s 0 leaves them intact (paths are not data).
      s = $0; n = 0
      while (match(s, /"[^"]*"/)) { q[++n] = substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) }
      if (n < 2) next
      old = q[1]; new = q[2]
      if (name != "rename") {
        d1 = $0; sub(/^[^<]*</, "", d1); sub(/>.*/, "", d1)
        d2 = $0; sub(/^[^"]*"[^"]*", [0-9]+</, "", d2); sub(/>.*/, "", d2)
        if (old !~ /^\//) old = d1 "/" old
        if (new !~ /^\//) new = d2 "/" new
      }
      if (new !~ pat) next
      renames++
      if (!(old in synced) || !synced[old]) { print "renamed " old " to " new " without syncing it first"; bad = 1; exit }
      pending[dirname(new)] = 1
    }
    name == "+exit" { for (p in pending) { print "exit with the rename in " p " not synced"; bad = 1; exit } }
    END {
      if (bad) exit 1
      if (renames < min) { print "too little seen: " renames " renames"; exit 1 }
      print renames " renames, " dirsyncs " directory syncs after them: each temp file synced, each directory synced"
    }' "$1"
}

# --- 1. Receipts with --sync batch: 3 partitions, several batches each.
seq 1 20000 | awk '{printf "{\"id\":\"e%d\",\"k\":\"k%d\",\"pad\":\"%0200d\"}\n", $1, $1 % 11, $1}' >in.jsonl
expect_exit 0 pspf-topics create t -P 3
trace "$T/produce.trace" pspf-produce t --key-field k --id-field id --receipts --sync batch in.jsonl >r.out
expect_lines 20000 r.out "receipts"
check_receipts "$T/produce.trace" 1 || fail "produce --sync batch: a receipt came before its sync"

# --- 2. --sync always: every record its own batch and sync.
head -n 50 in.jsonl | sed 's/"e/"a/' >few.jsonl
trace "$T/always.trace" pspf-produce t --key-field k --id-field id --receipts --sync always few.jsonl >r2.out
expect_lines 50 r2.out "receipts with --sync always"
check_receipts "$T/always.trace" 1 || fail "produce --sync always: a receipt came before its sync"
syncs=$(grep -c 'fdatasync(.*\.log>) = 0' "$T/always.trace" || true)
[ "$syncs" -ge 50 ] || fail "--sync always made $syncs segment syncs for 50 records"

# --- 3. Group commits: batches of 500 over 3 partitions, one command each.
trace "$T/consume.trace" pspf-consume -g g t -e --batch 500 --exec 'cat >/dev/null' >/dev/null
check_commits "$T/consume.trace" g 5 || fail "consume --exec: a commit was not synced before the next command"
# And plain mode (print, commit what was printed).
trace "$T/plain.trace" pspf-consume -g g2 t -e -c 3000 >/dev/null
check_commits "$T/plain.trace" g2 1 || fail "consume: a commit was not synced before exit"

# --- 4. Metadata renames.
trace "$T/create.trace" pspf-topics create m -P 2 >/dev/null
check_renames "$T/create.trace" '/topic\.json$|/topics/m$' 2 || fail "topics create: topic.json not synced, renamed, dir synced"
trace "$T/alter.trace" pspf-topics alter m --segment-bytes 1048576 >/dev/null
check_renames "$T/alter.trace" '/topic\.json$' 1 || fail "topics alter: topic.json not synced, renamed, dir synced"

# --- 5. The rewrite of offsets.log: each reset of 500 partitions appends 500 records;
# the reset that takes the file past 1 MiB rewrites it (temp file, rename).
expect_exit 0 pspf-topics create wide -P 500
expect_exit 0 pspf-offsets reset -g w --topic wide --to-earliest --execute
log=$PSPF_DIR/groups/w/offsets.log
step=$(stat -c %s "$log")
while [ $(($(stat -c %s "$log") + step)) -lt 1048576 ]; do
  expect_exit 0 pspf-offsets reset -g w --topic wide --to-latest --execute
done
big=$(stat -c %s "$log")
trace "$T/rewrite.trace" pspf-offsets reset -g w --topic wide --to-earliest --execute >/dev/null 2>&1
[ "$(stat -c %s "$log")" -lt "$big" ] || fail "offsets.log was not rewritten past 1 MiB ($big bytes before)"
check_renames "$T/rewrite.trace" '/groups/w/offsets\.log$' 1 || fail "offsets.log rewrite: not synced, renamed, dir synced"
echo ok
