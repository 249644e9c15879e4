#!/usr/bin/env bash
# pspf-compact on a topic with a random workload of keyed events, keyless events and
# tombstones: the latest value per key (pspf-replay --latest) and the set of keyless
# events are the same before and after, offsets never change, records are removed;
# past the tombstone horizon the deleted keys go too. --dry-run changes nothing and
# reports as a table or JSON; --into writes a copy and leaves the topic alone;
# --no-wait exits 75 while another compaction holds the lock; usage errors exit 2.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

expect_exit 0 pspf-topics create t -P 3 --segment-bytes 4096 --cleanup compact --delete-retention 1h
expect_contains "$ERR" "created topic t"
expect_exit 0 pspf-topics describe t --json
expect_eq '"compact" 3600000' "$(jq -r '"\"\(.cleanup_policy)\" \(.delete_retention_ms)"' "$OUT")" "describe"

# 3000 events over 40 keys, one in 8 a tombstone, one in 10 without a key.
awk 'BEGIN { srand(5); for (i = 0; i < 3000; i++) {
  k = int(rand() * 40); r = rand();
  if (r < 0.1) printf "{\"v\":%d}\n", i;
  else if (r < 0.225) printf "{\"k\":\"k%d\",\"tomb\":true}\n", k;
  else printf "{\"k\":\"k%d\",\"v\":%d}\n", k, i } }' >in.jsonl
# Tombstones are null values: produced with -J envelopes.
jq -c 'if .tomb then {key: .k, value: null} elif .k then {key: .k, value: .} else {value: .} end' \
  in.jsonl >in.env
split -l 300 in.env part.
for f in part.*; do pspf-produce t -J -q "$f"; done
snapshot() {  # NAME: the latest view, the keyless events and every (partition, offset, key)
  pspf-replay t --latest | sort >"$1.latest"
  pspf-replay t -J | jq -c 'select(.key == null) | [.partition, .offset, .value]' | sort >"$1.keyless"
  pspf-replay t -J | jq -c '[.partition, .offset, .key, .value]' | sort >"$1.all"
}
snapshot before
[ "$(line_count before.latest)" -gt 20 ] || fail "too few live keys in the workload"

expect_exit 0 pspf-compact t --dry-run
expect_contains "$OUT" "dry run, nothing changed"
segments_before=$(find "$PSPF_DIR/topics/t" -name '*.log' | sort | xargs sha256sum)
expect_exit 0 pspf-compact t --dry-run --json --roll
expect_eq "$segments_before" "$(find "$PSPF_DIR/topics/t" -name '*.log' | sort | xargs sha256sum)" \
  "segments after a dry run with --roll"
jq -e '.[0].partitions | length == 3 and all(.[]; .dirty_ratio > 0 and .bytes_reclaimable > 0)' "$OUT" \
  >/dev/null || fail "dry run JSON: $(cat "$OUT")"
snapshot dry
expect_same_file before.all dry.all "the topic after a dry run"

# A copy, compacted, into another data directory.
expect_exit 0 pspf-compact t --into "$T/copy" -q
expect_empty "$ERR" "stderr with -q"
expect_same_file before.all <(pspf-replay t -J | jq -c '[.partition, .offset, .key, .value]' | sort) "the topic after --into"
pspf-replay -d "$T/copy" t --latest | sort >copy.latest
expect_same_file before.latest copy.latest "latest view of the copy"

# The real thing.
expect_exit 0 pspf-compact t --roll
expect_contains "$ERR" "pspf-compact: topic t: "
expect_contains "$ERR" "tombstones dropped"
snapshot after
expect_same_file before.latest after.latest "latest value per key"
expect_same_file before.keyless after.keyless "keyless events"
[ "$(line_count after.all)" -lt "$(line_count before.all)" ] || fail "compaction removed nothing"
comm -13 before.all after.all >new
expect_empty new "records after compaction that were not there before (same offsets)"
expect_exit 0 pspf-topics verify t
# Only the latest record of each key is left (tombstones included: they are young).
keys=$(jq -r 'select(.k) | .k' in.jsonl | sort -u | wc -l)
expect_eq "$((keys + $(line_count before.keyless)))" "$(line_count after.all)" "records left"

# Past the tombstone horizon, deleted keys disappear and nothing else changes.
expect_exit 0 pspf-compact t --now "@$(($(now_ms) + 7200000))" --roll
expect_contains "$ERR" "pspf-compact: topic t: "
snapshot horizon
expect_same_file before.latest horizon.latest "latest view past the horizon"
expect_eq "$(($(line_count before.latest) + $(line_count before.keyless)))" "$(line_count horizon.all)" \
  "records left past the horizon"

# Two compactions never run at once: --no-wait exits 75 while the lock is held.
mkfifo hold
bg_start flock "$PSPF_DIR/topics/t/compact.lock" -c "touch held; read -r _ <hold"
wait_until 10 "the lock to be held" test -e held
expect_exit 75 pspf-compact t --no-wait
expect_contains "$ERR" "pspf-compact: error: topic t: another pspf-compact is running"
echo >hold
wait "$BG_PID"
expect_exit 0 pspf-compact t --no-wait -q

# Usage errors.
expect_exit 2 pspf-compact
expect_exit 2 pspf-compact t --all
expect_exit 2 pspf-compact t --into x --roll
expect_exit 2 pspf-topics alter t --cleanup sometimes
expect_exit 2 pspf-topics alter t --retention-bytes 12X
expect_exit 1 pspf-compact nosuchtopic
expect_exit 0 pspf-topics alter t --cleanup compact,delete --retention-time 7d --retention-bytes 1G
expect_contains "$ERR" "cleanup compact,delete, retention 1w / 1073741824 bytes"
echo "ok: $(line_count before.all) -> $(line_count after.all) -> $(line_count horizon.all) records"
