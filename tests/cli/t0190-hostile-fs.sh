#!/usr/bin/env bash
# Nothing planted in a shared data directory can make a command touch files outside it
# (pspf-log(5), DATA DIRECTORY):
# - a symlinked segment, topic.json, partition directory or topics/ directory is
#   refused: the command exits 1 naming the path, and the target is untouched;
# - temp files have unpredictable names: symlinks planted under every name the next
#   few hundred processes would have used (topic.json.tmp.<pid>,
#   producers.json.tmp.<pid>) do not redirect alter or --producer-id;
# - a FIFO in place of a segment is refused, not waited on forever.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir "$T/outside"
printf 'precious\n' >"$T/outside/victim"
victim_ok() {
  expect_eq "precious" "$(cat "$T/outside/victim")" "the file outside the data directory"
}

# make_topic NAME: a 1-partition topic with 3 events.
make_topic() {
  expect_exit 0 pspf-topics create "$1" -P 1
  printf '{"n":%d}\n' 0 1 2 | pspf-produce "$1" -q
}

# plant_guesses FILE: symlinks FILE.tmp.<pid> -> victim for the next 400 pids.
plant_guesses() {
  local last p
  last=$(cat /proc/sys/kernel/ns_last_pid)
  for ((p = last + 1; p <= last + 400; p++)); do ln -s "$T/outside/victim" "$1.tmp.$p"; done
}

# A symlinked segment: every command refuses it; repair does not truncate the target.
make_topic seg
seg=$(segment_path seg 0)
rm "$seg"
ln -s "$T/outside/victim" "$seg"
for cmd in "pspf-topics repair seg" "pspf-topics verify seg" "pspf-replay seg"; do
  # shellcheck disable=SC2086  # the command is words
  expect_exit 1 $cmd
  expect_contains "$ERR" "$seg is a symlink, not a regular file: refusing to use it" "$cmd"
  victim_ok
done
echo '{"n":3}' >"$T/one"
expect_exit 1 pspf-produce seg "$T/one"
expect_contains "$ERR" "$seg is a symlink, not a regular file: refusing to use it" "produce"
victim_ok

# A symlinked topic.json is not read (nor written through).
make_topic meta
meta="$PSPF_DIR/topics/meta/topic.json"
cp "$meta" "$T/outside/topic.json"
cp "$meta" "$T/topic.json.orig"
ln -sf "$T/outside/topic.json" "$meta"
expect_exit 1 pspf-topics alter meta --segment-bytes 4096
expect_contains "$ERR" "$meta is a symlink, not a regular file: refusing to use it" "alter"
expect_exit 1 pspf-replay meta
expect_contains "$ERR" "$meta is a symlink, not a regular file: refusing to use it" "replay"
expect_same_file "$T/topic.json.orig" "$T/outside/topic.json" "the topic.json symlink's target"

# Guessed temp names of topic.json: alter writes beside them, not through them.
make_topic guess
plant_guesses "$PSPF_DIR/topics/guess/topic.json"
expect_exit 0 pspf-topics alter guess --segment-bytes 4096
victim_ok
expect_eq 4096 "$(jq -r .segment_bytes "$PSPF_DIR/topics/guess/topic.json")" "altered segment size"
[ ! -L "$PSPF_DIR/topics/guess/topic.json" ] || fail "topic.json became a symlink"
# alter holds the topic's lock: it also removes what a killed alter left behind.
expect_eq "0 lock topic.json" "$(cd "$PSPF_DIR/topics/guess" && echo *)" "topic directory after alter"

# Guessed temp names of producers.json: --producer-id writes beside them.
make_topic prod
plant_guesses "$PSPF_DIR/topics/prod/0/producers.json"
printf '{"n":%d}\n' 3 4 >"$T/two"
expect_exit 0 pspf-produce prod --producer-id import-1 "$T/two"
victim_ok
expect_exit 0 pspf-replay prod
expect_lines 5 "$OUT" "events after the --producer-id import"

# A symlinked partition directory: nothing is written into its target.
make_topic part
mv "$PSPF_DIR/topics/part/0" "$T/outside/part0"
ln -s "$T/outside/part0" "$PSPF_DIR/topics/part/0"
before=$(tree_digest "$T/outside/part0")
expect_exit 1 pspf-produce part "$T/one"
expect_contains "$ERR" "$PSPF_DIR/topics/part/0 is a symlink, not a directory: refusing to use it" \
  "produce into a symlinked partition"
expect_exit 1 pspf-topics repair part
expect_contains "$ERR" "$PSPF_DIR/topics/part/0 is a symlink, not a directory: refusing to use it" \
  "repair of a symlinked partition"
expect_eq "$before" "$(tree_digest "$T/outside/part0")" "the partition's target"

# A symlinked topics/ directory (of a second data directory).
mkdir -p "$T/data2" "$T/outside/topics"
ln -s "$T/outside/topics" "$T/data2/topics"
expect_exit 1 pspf-topics -d "$T/data2" create t2 -P 1
expect_contains "$ERR" "$T/data2/topics is a symlink, not a directory: refusing to use it" "create"
expect_eq "" "$(ls -A "$T/outside/topics")" "the topics/ target stays empty"

# A FIFO in place of a segment: refused at once, never waited on.
make_topic fifo
seg=$(segment_path fifo 0)
rm "$seg"
mkfifo "$seg"
for cmd in "pspf-topics verify fifo" "pspf-replay fifo" "pspf-topics repair fifo"; do
  # shellcheck disable=SC2086  # the command is words
  expect_exit 1 timeout 20 $cmd
  expect_contains "$ERR" "$seg is a FIFO, not a regular file: refusing to use it" "$cmd"
done
expect_exit 1 timeout 20 pspf-produce fifo "$T/one"
expect_contains "$ERR" "$seg is a FIFO, not a regular file: refusing to use it" "produce"
[ -p "$seg" ] || fail "the FIFO was replaced"
exit 0
