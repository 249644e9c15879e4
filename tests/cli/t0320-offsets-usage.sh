#!/usr/bin/env bash
# pspf-offsets usage: every long option of every command's --help is in
# man/pspf-offsets.1 and the page is clean for groff; malformed commands exit 2
# with a message naming the problem and change nothing; a topic that does not
# exist exits 1.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$PSPF_BIN/pspf-offsets" ] || skip "pspf-offsets is not built"
MAN=$SRC_TOP/man/pspf-offsets.1

# --- --help and the man page ------------------------------------------------------
man_text=$(sed 's/\\-/-/g' "$MAN")
for cmd in "" list describe reset commit delete; do
  # shellcheck disable=SC2086  # an empty $cmd is no argument
  expect_exit 0 pspf-offsets $cmd --help
  grep -oE -- '--[a-z][a-z-]*' "$OUT" | sort -u >"$T/opts"
  [ -s "$T/opts" ] || fail "no options in the help of '$cmd'"
  while read -r opt; do
    grep -qF -- "$opt" <<<"$man_text" || fail "$opt (pspf-offsets $cmd --help) is not in $MAN"
  done <"$T/opts"
done
expect_exit 0 pspf-offsets reset --help
for opt in --to-earliest --to-latest --to-offset --shift-by --to-datetime --by-duration --from-file \
  --execute --export --force --all-topics --topic; do
  expect_contains "$OUT" "$opt" "reset --help"
done
if command -v groff >/dev/null; then
  groff -man -ww -z "$MAN" 2>"$T/groff.err" || fail "groff failed on $MAN"
  expect_empty "$T/groff.err" "groff warnings"
fi
expect_exit 0 pspf-offsets --version
expect_contains "$OUT" "pspf-offsets "

# --- usage errors (exit 2) ------------------------------------------------------------
expect_exit 0 pspf-topics create r -P 2
printf '1\n2\n3\n' | pspf-produce -q r -p 0
expect_exit 0 pspf-offsets reset -g G --topic r --to-offset 1 --execute
digest=$(tree_digest "$PSPF_DIR")

expect_exit 2 pspf-offsets
expect_exit 2 pspf-offsets frobnicate
expect_exit 2 pspf-offsets describe
expect_contains "$ERR" "--group is required"
expect_exit 2 pspf-offsets reset -g G --topic r --execute
expect_eq "pspf-offsets: error: reset: no mode was given: give exactly one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime, --by-duration, --from-file" \
  "$(cat "$ERR")" "no mode"
expect_exit 2 pspf-offsets reset -g G --topic r --to-earliest --to-offset 1 --execute
expect_eq "pspf-offsets: error: reset: several modes were given: give exactly one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime, --by-duration, --from-file" \
  "$(cat "$ERR")" "two modes"
expect_exit 2 pspf-offsets reset -g G --to-earliest --execute
expect_eq "pspf-offsets: error: reset: say which partitions: --topic T[:PARTITIONS] or --all-topics" \
  "$(cat "$ERR")" "no partitions"
expect_exit 2 pspf-offsets reset -g G --topic r --all-topics --to-earliest --execute
for spec in r:x r: r:1,,0 r:-1 r:1-0 r:0-x r:+1 "r: 1" r:0-1-1; do
  expect_exit 2 pspf-offsets reset -g G --topic "$spec" --to-earliest --execute
  expect_contains "$ERR" "pspf-offsets: error: invalid --topic '$spec': '" "partition list $spec"
  expect_contains "$ERR" "is not a partition or a range (0, 0,2 or 1-3)" "partition list $spec"
done
expect_exit 2 pspf-offsets reset -g G --topic r:0,2 --to-earliest --execute
expect_eq "pspf-offsets: error: invalid --topic 'r:0,2': topic r has no partition 2 (it has 2)" \
  "$(cat "$ERR")" "partition out of range"
expect_exit 2 pspf-offsets reset -g G --topic r:1-5 --to-earliest --execute
expect_exit 2 pspf-offsets reset -g G --topic r --to-offset -1 --execute
expect_eq "pspf-offsets: error: invalid --to-offset -1: offsets are >= 0" "$(cat "$ERR")" "negative offset"
for bad in x 1x -- +-1 ""; do
  expect_exit 2 pspf-offsets reset -g G --topic r --shift-by="$bad" --execute
done
expect_exit 2 pspf-offsets reset -g G --topic r --to-datetime yesterday --execute
expect_contains "$ERR" "yesterday"
expect_exit 2 pspf-offsets reset -g G --topic r --by-duration 2x --execute
expect_contains "$ERR" "2x"
expect_exit 2 pspf-offsets reset -g G --topic r --to-earliest --export --json
expect_exit 2 pspf-offsets describe -g 'bad/name'
expect_contains "$ERR" "invalid group name 'bad/name'"
expect_exit 2 pspf-offsets commit -g G --topic r -p 2 --offset 1
expect_eq "pspf-offsets: error: topic r has no partition 2 (it has 2)" "$(cat "$ERR")" "commit: partition"
expect_exit 2 pspf-offsets commit -g G --topic r -p 0 --offset -1
expect_exit 2 pspf-offsets commit -g G --topic r -p 0
expect_exit 2 pspf-offsets delete

# --- runtime errors (exit 1) ----------------------------------------------------------
expect_exit 1 pspf-offsets reset -g G --topic nosuch --to-earliest --execute
expect_contains "$ERR" "nosuch"
expect_exit 1 pspf-offsets commit -g G --topic nosuch -p 0 --offset 1
expect_contains "$ERR" "nosuch"

expect_eq "$digest" "$(tree_digest "$PSPF_DIR")" "the data directory after the failed commands"
expect_exit 0 pspf-offsets describe -g G --json
expect_eq "0=1 1=0" "$(jq -r 'map("\(.partition)=\(.current_offset)") | join(" ")' "$OUT")" "offsets"

echo "PASS: $TEST_NAME"
