#!/usr/bin/env bash
# pspf-topics delete and pspf-offsets delete killed, or failed with EIO, at each of
# their renameat, fsync and unlinkat calls (a delete renames the tree under tmp/,
# syncs, then removes it: pspf-log(5)). After every run the topic or group is there
# whole (it verifies, its events or offsets unchanged) or gone (not listed, and the
# name can be used again); never half. A delete that fails after the rename says that
# the topic or group is removed and which leftover directory to delete.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

base=$T/base
export PSPF_DIR=$base
expect_exit 0 pspf-topics create t -P 3
seq 1 30 | jq -c '{n: .}' | pspf-produce -q t
pspf-consume -g G t -c 10 >/dev/null
pspf-replay t >"$T/events"
pspf-offsets describe -g G --json | jq -c '[.[] | [.partition, .offset]]' >"$T/offsets"
export PSPF_DIR=$T/data
fresh() { rm -rf "$PSPF_DIR" && cp -a "$base" "$PSPF_DIR"; }

removed_says() {  # RC WHAT: a failed delete whose object is gone says so
  if [[ "$2" == "error=EIO at unlinkat"* ]]; then
    expect_contains "$T/fault.err" "is removed (moved to $PSPF_DIR/tmp/" "the error after $2"
    expect_contains "$T/fault.err" "by hand" "the error after $2"
  fi
}

check_topic() {  # RC WHAT
  if pspf-topics list | grep -qx t; then
    expect_exit 0 pspf-topics verify t
    pspf-replay t >"$T/now"
    expect_same_file "$T/events" "$T/now" "the events of t after $2 (exit $1)"
  else
    [ ! -e "$PSPF_DIR/topics/t" ] || fail "topics/t is left, not a topic, after $2"
    removed_says "$@"
    expect_exit 0 pspf-topics create t -P 1
  fi
}
fault_sweep "renameat fsync unlinkat" fresh check_topic pspf-topics delete t
topics=$SWEPT

check_group() {  # RC WHAT
  if pspf-offsets list | grep -qx G; then
    expect_eq "$(cat "$T/offsets")" \
      "$(pspf-offsets describe -g G --json | jq -c '[.[] | [.partition, .offset]]')" \
      "the offsets of G after $2 (exit $1)"
  else
    [ ! -e "$PSPF_DIR/groups/G" ] || fail "groups/G is left, not a group, after $2"
    removed_says "$@"
    pspf-consume -g G t -e >"$T/consumed"
    expect_lines 30 "$T/consumed" "events for a new group G after $2"
  fi
}
fault_sweep "renameat fsync unlinkat" fresh check_group pspf-offsets delete -g G
{ [ "$topics" -ge 10 ] && [ "$SWEPT" -ge 10 ]; } || fail "only $topics and $SWEPT points were swept"
echo "ok: $topics points deleting a topic, $SWEPT deleting a group"
