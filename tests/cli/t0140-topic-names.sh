#!/usr/bin/env bash
# Hostile topic names are usage errors (exit 2, "invalid topic name") for every
# command that takes a topic, and nothing is created, changed or deleted inside or
# outside the data directory. Names made of letters, digits, '.', '_' and '-' up to
# 249 characters work, including ones that look like options ("-", "-x") or hold
# dots ("a..b"); a name beginning with '.' is refused (pspf-log(5): temporaries).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

box=$T/box
data=$box/data
mkdir -p "$box/cwd" "$box/victim/topics/x" "$box/data"
echo precious >"$box/victim/file"
echo precious >"$box/victim/topics/x/topic.json"
export PSPF_DIR=$data
cd "$box/cwd"

# A topic that exists, so that the data directory is set up before the snapshot.
expect_exit 0 pspf-topics create good -P 2
expect_exit 0 pspf-produce good -q <<<'{"n":1}'

snapshot() {  # the names, modes and contents of everything in the box
  (cd "$box" && find . -printf '%p %y %m\n' | sort && tree_digest .)
}
snapshot >"$T/before"

long250=$(printf 'n%.0s' {1..250})
hostile=("../x" "../../x" "a/b" "/abs" ".." "." "" "x y" " x" "x " "é" "ａ" "x:y" "a\\b" "*" "~" "x?"
  "a%2fb" $'a\nb' $'tab\there' "\$(touch pwned)" "../victim" "../data/topics/good" "$long250"
  "..." ".hidden" ".x.tmp")

for name in "${hostile[@]}"; do
  shown=$(printf '%q' "$name")
  expect_exit 2 pspf-produce -q -- "$name" <<<'{"n":1}'
  expect_contains "$ERR" "pspf-produce: error: invalid topic name" "produce $shown"
  expect_exit 2 pspf-topics create -P 1 -- "$name"
  expect_contains "$ERR" "pspf-topics: error: invalid topic name" "create $shown"
  expect_exit 2 pspf-topics delete -- "$name"
  expect_contains "$ERR" "pspf-topics: error: invalid topic name" "delete $shown"
  expect_exit 2 pspf-replay -- "$name"
  expect_contains "$ERR" "pspf-replay: error: invalid topic name" "replay $shown"
done
# The other subcommands that take a topic, with the most dangerous names.
for name in ".." "../victim" "" "a/b"; do
  shown=$(printf '%q' "$name")
  for sub in describe verify repair; do
    expect_exit 2 pspf-topics "$sub" -- "$name"
    expect_contains "$ERR" "pspf-topics: error: invalid topic name" "$sub $shown"
  done
done
[ ! -e "$box/cwd/pwned" ] || fail "a topic name was run as a command"
snapshot >"$T/after"
expect_same_file "$T/before" "$T/after" "the data directory and its surroundings after hostile names"

# Names that are valid: options-like, dots, every allowed character.
valid=("-" "-x" "--" "a." "a..b" "A-Z_a-z.0-9")
i=0
for name in "${valid[@]}"; do
  i=$((i + 1))
  shown=$(printf '%q' "$name")
  expect_exit 0 pspf-produce --partitions 1 -- "$name" <<<"{\"i\":$i}"
  expect_contains "$ERR" "created topic $name with 1 partition in " "produce $shown"
  [ -f "$data/topics/$name/topic.json" ] || fail "topic $shown is not in $data/topics"
  expect_exit 0 pspf-replay -- "$name"
  expect_eq "{\"i\":$i}" "$(cat "$OUT")" "replay $shown"
  expect_exit 0 pspf-topics describe --json -- "$name"
  expect_eq "$name" "$(jq -r .topic "$OUT")" "describe $shown"
done
expect_exit 0 pspf-topics list --json
expect_eq "$(printf '%s\n' "${valid[@]}" good | sort | jq -R . | jq -sc .)" \
  "$(jq -c '[.[].topic] | sort' "$OUT")" "topics listed"
# The topic directories are exactly the valid names: nothing else was created.
expect_eq "$(printf '%s\n' "${valid[@]}" good | sort)" "$(find "$data/topics" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)" \
  "topic directories"
# Deleting the odd names removes only them.
for name in "${valid[@]}"; do
  expect_exit 0 pspf-topics delete -- "$name"
done
expect_eq good "$(find "$data/topics" -mindepth 1 -maxdepth 1 -printf '%f\n')" \
  "topic directories after deleting"
expect_exit 0 pspf-replay good
expect_eq '{"n":1}' "$(cat "$OUT")" "the first topic after all that"
expect_eq precious "$(cat "$box/victim/file")" "a file outside the data directory"

# The longest name, 249 characters, works with every command.
long249=$(printf 'n%.0s' {1..249})
expect_exit 0 pspf-produce --partitions 2 -k k -- "$long249" <<<'{"long":true}'
[ -f "$data/topics/$long249/topic.json" ] || fail "the 249-character topic is not in $data/topics"
expect_exit 0 pspf-replay -J -- "$long249"
expect_eq "[\"$long249\",{\"long\":true}]" "$(jq -c '[.topic,.value]' "$OUT")" "replay of a 249-character topic"
expect_exit 0 pspf-topics describe -- "$long249"
expect_exit 0 pspf-topics verify -- "$long249"
expect_exit 0 pspf-topics delete -- "$long249"
expect_exit 0 pspf-topics create -P 1 -- "$long249"
expect_exit 0 pspf-topics list
expect_eq "$(printf '%s\n' good "$long249" | sort)" "$(sort "$OUT")" "topics listed at the end"

echo "ok: ${#hostile[@]} hostile names refused, ${#valid[@]} odd valid names work"
