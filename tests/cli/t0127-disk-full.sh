#!/usr/bin/env bash
# A full disk in the middle of an import (a 3 MiB tmpfs): the command exits 1, every
# event that is in the log got its receipt (and nothing else did), and the error says
# how many were appended, that they are not an input prefix, and how to resume.
# Then the same with --id-field: a re-run on a disk with room appends exactly the
# rest. Then a repair on a full disk: it exits 1 saying why, gives no offsets up and
# changes nothing; with room, it repairs. Needs root (mount); skips otherwise.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
mount_tmpfs 3m

seq 1 60000 | jq -c '{id: "e\(.)", pad: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}' >in.jsonl
expect_exit 0 pspf-topics create t -P 3
expect_exit 1 pspf-produce t --key-field id --receipts in.jsonl
expect_contains "$ERR" "No space left on device"
receipted=$(grep -c '"offset"' "$OUT")
[ "$receipted" -gt 0 ] || fail "nothing was appended before the disk filled: the test proves nothing"
expect_contains "$ERR" "$receipted events were appended and durable before the failure"
expect_contains "$ERR" "not necessarily a prefix of the input"
expect_contains "$ERR" "run again with --id-field"
jq -r 'select(.offset != null) | .key' "$OUT" | sort >receipted.keys
pspf-replay t | jq -r .id | sort >log.keys
expect_same_file receipted.keys log.keys "the log holds exactly the receipted events"

# With ids: the error says a re-run is safe; after room is made, it appends the rest.
expect_exit 0 pspf-topics delete t
expect_exit 0 pspf-topics create t -P 3
expect_exit 1 pspf-produce t --key-field id --id-field id --receipts in.jsonl
expect_contains "$ERR" "running the same command again appends only what is missing"
first=$(grep -c '"offset"' "$OUT")
mount -o remount,size=64m "$T/mnt"
expect_exit 0 pspf-produce t --key-field id --id-field id --receipts in.jsonl
expect_eq "$first" "$(grep -c '"duplicate_of"' "$OUT")" "the re-run finds exactly the receipted events"
expect_eq 60000 "$(pspf-replay t | jq -r .id | sort -u | wc -l)" "every event once"
expect_exit 0 pspf-topics verify t

# A repair with no room for the quarantine file: nothing is cut, no offset is said to
# be lost, the durable end stays; verify still says DAMAGED. With room, it repairs.
seg=$(segment_path t 0)
mapfile -t pos < <(batch_positions "$seg")
last=${pos[${#pos[@]} - 1]}
flip_byte "$seg" $((last + 60))
lock="$PSPF_DIR/topics/t/0/lock"
cp -- "$seg" seg.before
cp -- "$lock" lock.before
dd if=/dev/zero of="$T/mnt/fill" bs=64k status=none 2>/dev/null || true
expect_exit 1 pspf-topics repair t
expect_contains "$ERR" "No space left on device"
expect_not_contains "$OUT" "are lost"
expect_same_file seg.before "$seg" "the segment after a repair that found no room"
expect_same_file lock.before "$lock" "the durable end after a repair that found no room"
expect_exit 1 pspf-topics verify t
expect_contains "$OUT" "DAMAGED"
rm -- "$T/mnt/fill"
expect_exit 0 pspf-topics repair t
expect_contains "$OUT" "are lost: the durable end goes back"
expect_contains "$OUT" "quarantined in $seg.$last.quarantine"
expect_exit 0 pspf-topics verify t
echo ok
