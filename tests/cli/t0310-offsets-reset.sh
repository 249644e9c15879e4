#!/usr/bin/env bash
# pspf-offsets reset, commit and delete against a topic with known offsets and
# append times (learnt with pspf-replay -J): every reset mode gives the exact new
# offsets; a dry run changes nothing (not a byte of the commit file); --execute
# changes exactly the partitions listed; targets outside the log are clamped with a
# warning naming the partition; --export | --from-file round-trips; a live member
# makes reset, commit and delete refuse (exit 1) unless --force, and a forced
# reset fences it: it resumes from the new offset.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

for _tool in pspf-offsets pspf-consume; do
  [ -x "$PSPF_BIN/$_tool" ] || skip "$_tool is not built"
done

# offsets GROUP: "topic/partition=current ..." from describe --json.
offsets() {
  pspf-offsets describe -g "$1" --json |
    jq -r 'map("\(.topic)/\(.partition)=\(.current_offset)") | join(" ")'
}
# table: $OUT with the padding collapsed.
table() {
  awk '{ $1 = $1; print }' "$OUT"
}
# produce_batch TOPIC PARTITION FIRST LAST: one batch of "TOPIC-PARTITION-N" strings
# (from a file: through a pipe, a pause in the input would end the batch early).
produce_batch() {
  local i
  for ((i = $3; i <= $4; i++)); do printf '"%s%s-%d"\n' "$1" "$2" "$i"; done >"$T/batch.in"
  pspf-produce -q "$1" -p "$2" "$T/batch.in"
}
ts_of() {  # TOPIC PARTITION OFFSET: the append time pspf-replay reports
  pspf-replay "$1" -J -p "$2" --from "$3" -c 1 | jq -r .timestamp
}
iso() {  # MS [OFFSET_HOURS]: ISO 8601 of epoch ms, in UTC or at +HH:00
  local ms=$1 h=${2:-0} zone=Z
  [ "$h" -eq 0 ] || zone=$(printf '+%02d:00' "$h")
  printf '%s.%03d%s\n' "$(date -u -d "@$((ms / 1000 + h * 3600))" +%Y-%m-%dT%H:%M:%S)" \
    $((ms % 1000)) "$zone"
}
DRY="pspf-offsets: dry run: nothing changed (add --execute to apply)"
HEAD="GROUP TOPIC PARTITION CURRENT-OFFSET NEW-OFFSET"
# plan_is WHAT EXPECTED-ROWS RESET-ARGS...: a dry run prints exactly this plan and
# changes nothing.
plan_is() {
  local what=$1 rows=$2 before
  shift 2
  before=$(offsets G)
  expect_exit 0 pspf-offsets reset -g G "$@"
  expect_eq "$HEAD
$rows" "$(table)" "$what: plan"
  expect_eq "$DRY" "$(cat "$ERR")" "$what: stderr"
  expect_eq "$before" "$(offsets G)" "$what: offsets after the dry run"
}

# --- the log: partition 0 gets batches A (0-2), B (3-5), C (6-9); partition 1 gets
# P (0-1) and Q (2-3), appended in the order A P B Q C at increasing times, with
# 2.5 s before C (for --by-duration).
expect_exit 0 pspf-topics create r -P 2
produce_batch r 0 0 2
ts_a=$(ts_of r 0 0)
wait_clock_past $((ts_a + 5))
produce_batch r 1 0 1
ts_p=$(ts_of r 1 0)
wait_clock_past $((ts_p + 5))
produce_batch r 0 3 5
ts_b=$(ts_of r 0 3)
wait_clock_past $((ts_b + 5))
produce_batch r 1 2 3
ts_q=$(ts_of r 1 2)
wait_clock_past $((ts_q + 2500))
produce_batch r 0 6 9
ts_c=$(ts_of r 0 6)
if ! [ "$ts_a" -lt "$ts_p" ] || ! [ "$ts_p" -lt "$ts_b" ] || ! [ "$ts_b" -lt "$ts_q" ] ||
  ! [ $((ts_q + 2500)) -le "$ts_c" ]; then
  fail "append times not as arranged: $ts_a $ts_p $ts_b $ts_q $ts_c"
fi

expect_exit 0 pspf-consume -g G r -e
expect_lines 14 "$OUT" "events consumed"
expect_eq "r/0=10 r/1=4" "$(offsets G)" "offsets after consuming"
commit_file=$PSPF_DIR/groups/G/offsets.log
[ -f "$commit_file" ] || fail "no commit file $commit_file"

# --- dry run, then --execute of exactly the listed partitions ----------------------
sum_before=$(sha256sum <"$commit_file")
plan_is "--to-earliest" "G r 0 10 0
G r 1 4 0" --topic r --to-earliest
expect_eq "$sum_before" "$(sha256sum <"$commit_file")" "commit file after dry runs"

expect_exit 0 pspf-offsets reset -g G --topic r:0 --to-earliest --execute
expect_eq "$HEAD
G r 0 10 0" "$(table)" "--to-earliest --execute r:0: table"
expect_eq "pspf-offsets: reset 1 partition of group G" "$(cat "$ERR")" "--execute: note"
expect_eq "r/0=0 r/1=4" "$(offsets G)" "only partition 0 was reset"

plan_is "--to-latest" "G r 0 0 10
G r 1 4 4" --topic r --to-latest
expect_exit 0 pspf-offsets reset -g G --topic r --to-latest --execute
expect_eq "r/0=10 r/1=4" "$(offsets G)" "--to-latest --execute"

# --- --to-offset, with clamping ----------------------------------------------------
plan_is "--to-offset 4 r:0" "G r 0 10 4" --topic r:0 --to-offset 4
expect_exit 0 pspf-offsets reset -g G --topic r:1 --to-offset 3 --execute
expect_eq "r/0=10 r/1=3" "$(offsets G)" "--to-offset 3 r:1 --execute"
expect_exit 0 pspf-offsets reset -g G --topic r --to-offset 7 --execute
expect_eq "$HEAD
G r 0 10 7
G r 1 3 4" "$(table)" "--to-offset 7: table"
expect_eq "pspf-offsets: warning: topic r partition 1: offset 7 is past the log end 4; using 4
pspf-offsets: reset 2 partitions of group G" "$(cat "$ERR")" "--to-offset 7: clamped with a warning"
expect_eq "r/0=7 r/1=4" "$(offsets G)" "--to-offset 7 --execute"

# --- --shift-by ---------------------------------------------------------------------
plan_is "--shift-by -2" "G r 0 7 5
G r 1 4 2" --topic r --shift-by -2
expect_exit 0 pspf-offsets reset -g G --topic r --shift-by +2
expect_eq "$HEAD
G r 0 7 9
G r 1 4 4" "$(table)" "--shift-by +2: table"
expect_eq "pspf-offsets: warning: topic r partition 1: offset 6 is past the log end 4; using 4
$DRY" "$(cat "$ERR")" "--shift-by +2: clamped with a warning"
expect_exit 0 pspf-offsets reset -g G --topic r:0-1 --shift-by=-3 --execute
expect_eq "r/0=4 r/1=1" "$(offsets G)" "--shift-by=-3 --execute"
expect_exit 0 pspf-offsets reset -g G --topic r --shift-by -100
expect_eq "$HEAD
G r 0 4 0
G r 1 1 0" "$(table)" "--shift-by -100: table"
expect_eq "pspf-offsets: warning: topic r partition 0: offset -96 is before the log start 0; using 0
pspf-offsets: warning: topic r partition 1: offset -99 is before the log start 0; using 0
$DRY" "$(cat "$ERR")" "--shift-by -100: clamped with warnings"
expect_eq "r/0=4 r/1=1" "$(offsets G)" "--shift-by -100 dry run"

# --- --to-datetime and --by-duration -----------------------------------------------
plan_is "--to-datetime B" "G r 0 4 3
G r 1 1 2" --topic r --to-datetime "$(iso "$ts_b")"
plan_is "--to-datetime B at +01:00" "G r 0 4 3
G r 1 1 2" --topic r --to-datetime "$(iso "$ts_b" 1)"
plan_is "--to-datetime A+1ms" "G r 0 4 3
G r 1 1 0" --topic r --to-datetime "$(iso $((ts_a + 1)))"
plan_is "--to-datetime B+1ms" "G r 0 4 6
G r 1 1 2" --topic r --to-datetime "$(iso $((ts_b + 1)))"
plan_is "--to-datetime C" "G r 0 4 6
G r 1 1 4" --topic r --to-datetime "$(iso "$ts_c")"
plan_is "--to-datetime after C" "G r 0 4 10
G r 1 1 4" --topic r --to-datetime "$(iso $((ts_c + 1)))"
plan_is "--to-datetime 2000-01-01" "G r 0 4 0
G r 1 1 0" --topic r --to-datetime 2000-01-01
expect_exit 0 pspf-offsets reset -g G --topic r --to-datetime "$(iso "$ts_b")" --execute
expect_eq "r/0=3 r/1=2" "$(offsets G)" "--to-datetime B --execute"

# A duration that lands 500 ms after Q, so before C unless the command takes 2 s
# to start.
ago=$(($(now_ms) - ts_q - 500))
expect_exit 0 pspf-offsets reset -g G --topic r --by-duration "${ago}ms"
expect_eq "$HEAD
G r 0 3 6
G r 1 2 4" "$(table)" "--by-duration between Q and C"
plan_is "--by-duration 1h" "G r 0 3 0
G r 1 2 0" --topic r --by-duration 1h

# --- --export and --from-file ----------------------------------------------------------
expect_exit 0 pspf-offsets reset -g G --topic r --to-offset 2 --export
expect_eq "r,0,2
r,1,2" "$(cat "$OUT")" "--export"
expect_eq "$DRY" "$(cat "$ERR")" "--export: stderr"
cp "$OUT" "$T/plan.csv"
expect_exit 0 pspf-offsets reset -g G --topic r --to-latest --execute
expect_eq "r/0=10 r/1=4" "$(offsets G)" "--to-latest before --from-file"
plan_is "--from-file" "G r 0 10 2
G r 1 4 2" --from-file "$T/plan.csv"
expect_exit 0 pspf-offsets reset -g G --from-file "$T/plan.csv" --execute
expect_eq "r/0=2 r/1=2" "$(offsets G)" "--from-file --execute"
printf 'r,0,5\n\nr,1,1\n' >"$T/two.csv"
expect_exit 0 pspf-offsets reset -g G --topic r:1 --from-file "$T/two.csv" --execute
expect_eq "$HEAD
G r 1 2 1" "$(table)" "--from-file limited by --topic r:1"
expect_eq "r/0=2 r/1=1" "$(offsets G)" "--from-file --topic r:1 --execute"
expect_exit 0 pspf-offsets reset -g G --from-file - --execute <<<'r,1,99'
expect_eq "pspf-offsets: warning: topic r partition 1: offset 99 is past the log end 4; using 4
pspf-offsets: reset 1 partition of group G" "$(cat "$ERR")" "--from-file -: clamped"
expect_eq "r/0=2 r/1=4" "$(offsets G)" "--from-file - --execute"
sum_before=$(sha256sum <"$commit_file")
printf 'r,0,1\nr,1,x\n' >"$T/bad.csv"
expect_exit 65 pspf-offsets reset -g G --from-file "$T/bad.csv" --execute
expect_eq "pspf-offsets: error: $T/bad.csv: line 2: bad offset: expected topic,partition,offset" \
  "$(cat "$ERR")" "bad CSV line"
printf 'r,7,1\n' >"$T/bad.csv"
expect_exit 65 pspf-offsets reset -g G --from-file "$T/bad.csv" --execute
expect_eq "pspf-offsets: error: $T/bad.csv: topic r has no partition 7 (it has 2)" "$(cat "$ERR")" \
  "CSV partition out of range"
printf 'nosuch,0,1\n' >"$T/bad.csv"
expect_exit 1 pspf-offsets reset -g G --from-file "$T/bad.csv" --execute
expect_contains "$ERR" "nosuch" "CSV with a missing topic"
# The plan is the user's own file: a symlink to it is followed; a missing one is an
# error naming it, not a crash.
printf 'r,0,3\n' >"$T/good.csv"
ln -s "$T/good.csv" "$T/link.csv"
plan_is "--from-file through a symlink" "G r 0 2 3" --from-file "$T/link.csv"
expect_exit 1 pspf-offsets reset -g G --from-file "$T/none.csv" --execute
expect_eq "pspf-offsets: error: cannot read $T/none.csv: No such file or directory" "$(cat "$ERR")" \
  "--from-file of a missing file"
expect_eq "$sum_before" "$(sha256sum <"$commit_file")" "commit file after refused plans"

# --- --all-topics, several --topic, a new group, a shift without a commit -----------
expect_exit 0 pspf-topics create s -P 1
produce_batch s 0 0 1
expect_exit 0 pspf-consume -g G s -e
plan_is "--all-topics" "G r 0 2 0
G r 1 4 0
G s 0 2 0" --all-topics --to-earliest
plan_is "repeated --topic" "G r 0 2 10
G r 1 4 4
G s 0 2 2" --topic s --topic r:1 --topic r:0 --to-latest
expect_exit 0 pspf-offsets reset -g N --topic r:1 --to-offset 1 --execute
expect_eq "r/1=1" "$(offsets N)" "reset of a new group"
expect_exit 1 pspf-offsets reset -g N --topic r --shift-by 1
expect_eq "pspf-offsets: error: topic r partition 0: no committed offset to shift from (choose a start with --to-offset, --to-earliest or --to-datetime)" \
  "$(cat "$ERR")" "shift without a commit"
expect_exit 1 pspf-offsets reset -g nosuch --all-topics --to-earliest
expect_eq "pspf-offsets: error: group 'nosuch' does not exist (pspf-offsets list shows the groups)" \
  "$(cat "$ERR")" "--all-topics of a missing group"

# --- a log start above 0 (the first segment removed, as retention does) -------------
expect_exit 0 pspf-topics create z -P 1 --segment-bytes 1024
for b in 0 1 2; do  # one batch each (from a file, as produce_batch)
  for i in 0 1 2 3 4 5 6 7 8 9; do printf '"z-%d-%d-padpadpadpadpadpadpadpadpadpadpadpad"\n' "$b" "$i"; done \
    >"$T/batch.in"
  pspf-produce -q z "$T/batch.in"
done
seg2=$(segment_path z 0 20)
[ -f "$seg2" ] || fail "expected a second segment at offset 20: $(ls "$PSPF_DIR/topics/z/0")"
expect_exit 0 pspf-consume -g Z z -e
rm "$(segment_path z 0 0)" "$(segment_path z 0 0 .index)" "$(segment_path z 0 0 .timeindex)"
expect_exit 0 pspf-offsets reset -g Z --topic z --to-earliest
expect_eq "$HEAD
Z z 0 30 20" "$(table)" "--to-earliest after the first segment went"
expect_exit 0 pspf-offsets reset -g Z --topic z --to-offset 3 --execute
expect_eq "pspf-offsets: warning: topic z partition 0: offset 3 is before the log start 20; using 20
pspf-offsets: reset 1 partition of group Z" "$(cat "$ERR")" "clamped to the log start"
expect_eq "z/0=20" "$(offsets Z)" "clamped to the log start: offsets"

# --- commit ---------------------------------------------------------------------------
expect_exit 0 pspf-offsets commit -g G --topic r -p 1 --offset 3
expect_empty "$OUT" "commit: stdout"
expect_eq "pspf-offsets: committed offset 3 for group G on topic r partition 1 (was 4)" "$(cat "$ERR")" \
  "commit: note"
expect_eq "r/0=2 r/1=3 s/0=2" "$(offsets G)" "after commit"
expect_exit 0 pspf-offsets commit -g G --topic r --partition 0 --offset 11
expect_eq "pspf-offsets: warning: topic r partition 0: offset 11 is past the log end 10; using 10
pspf-offsets: committed offset 10 for group G on topic r partition 0 (was 2)" "$(cat "$ERR")" \
  "commit: clamped"
expect_eq "r/0=10 r/1=3 s/0=2" "$(offsets G)" "after a clamped commit"

# --- refusal while a member is live, --force fences it --------------------------------
expect_exit 0 pspf-offsets reset -g G --topic r --to-latest --execute
owner_of() {  # GROUP TOPIC PARTITION -> PID@HOST or -
  pspf-offsets describe -g "$1" --json |
    jq -r --arg t "$2" --argjson p "$3" '.[] | select(.topic == $t and .partition == $p) |
      if .owner == null then "-" else "\(.owner.pid)@\(.owner.host)" end'
}
owners_are() { [ "$(owner_of G r 0) $(owner_of G r 1)" = "$1 $1" ]; }
bg_start pspf-consume -g G r >"$T/member.out" 2>"$T/member.err" </dev/null
member=$BG_PID
wait_until 10 "pid $member to own both partitions of r" owners_are "$member@$HOSTNAME"
sum_before=$(sha256sum <"$commit_file")
LIVE="a live member's next commit is then refused and it resumes from the new offsets)"
expect_exit 1 pspf-offsets reset -g G --topic r --to-earliest
expect_empty "$OUT" "refused reset: stdout"
expect_eq "pspf-offsets: error: cannot reset group G: it has 1 live member (stop it first, or add --force: $LIVE" \
  "$(cat "$ERR")" "refused reset: message"
expect_exit 1 pspf-offsets reset -g G --topic r --to-earliest --execute
expect_exit 1 pspf-offsets reset -g G --all-topics --to-earliest --export
expect_empty "$OUT" "refused --export: stdout"
expect_exit 1 pspf-offsets commit -g G --topic r -p 0 --offset 1
expect_eq "pspf-offsets: error: cannot commit for group G: topic r partition 0 is owned by live member $member@$HOSTNAME (stop it first, or add --force: its next commit is then refused and it resumes from the new offset)" \
  "$(cat "$ERR")" "refused commit"
expect_exit 1 pspf-offsets delete -g G
expect_eq "pspf-offsets: error: cannot delete group G: it has 1 live member (stop it first, or add --force: $LIVE" \
  "$(cat "$ERR")" "refused delete"
expect_eq "$sum_before" "$(sha256sum <"$commit_file")" "commit file after the refusals"
# A partition no live member owns can be committed.
expect_exit 0 pspf-offsets commit -g G --topic s -p 0 --offset 1
expect_eq "r/0=10 r/1=4 s/0=1" "$(offsets G)" "offsets after the refusals (s is not owned)"

# --force: the member, idle at offset 10 of partition 0, follows the reset at once
# (without new data) and goes on from offset 8: it hands out 8 and 9 again.
expect_exit 0 pspf-offsets reset -g G --topic r:0 --to-offset 8 --force --execute
r0_back() { [ "$(offsets G)" = "r/0=10 r/1=4 s/0=1" ] && [ "$(tail -n 2 "$T/member.out")" = '"r0-8"
"r0-9"' ]; }
wait_until 10 "the member to hand out offsets 8 and 9 again" r0_back
printf '"x"\n' | pspf-produce -q r -p 0
r0_is() { [ "$(offsets G)" = "r/0=11 r/1=4 s/0=1" ]; }
wait_until 10 "the member to commit offset 11 of r/0" r0_is
expect_eq '"r0-8"
"r0-9"
"x"' "$(tail -n 3 "$T/member.out")" "the fenced member resumed from offset 8"

kill "$member"
wait "$member" || true
wait_until 10 "no owner of r" owners_are "-"
expect_exit 0 pspf-offsets reset -g G --topic r:1 --to-offset 0 --execute
expect_eq "r/0=11 r/1=0 s/0=1" "$(offsets G)" "reset after the member stopped"

# --- delete ---------------------------------------------------------------------------
expect_exit 0 pspf-offsets delete -g G
expect_empty "$OUT" "delete: stdout"
expect_eq "pspf-offsets: deleted group G" "$(cat "$ERR")" "delete: note"
expect_exit 0 pspf-offsets list
expect_eq "N
Z" "$(cat "$OUT")" "groups after delete"
expect_exit 1 pspf-offsets describe -g G
expect_exit 1 pspf-offsets delete -g G
expect_eq "pspf-offsets: error: group 'G' does not exist (pspf-offsets list shows the groups)" \
  "$(cat "$ERR")" "delete of a missing group"

echo "PASS: $TEST_NAME"
