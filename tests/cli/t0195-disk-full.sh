#!/usr/bin/env bash
# A full disk is an error with a message and exit 1, never a signal: building a key
# or id index (mapped files) on a full file system used to die of SIGBUS (exit 135).
# pspf-replay --current-version writes nothing, so it still answers. Needs root for a
# small tmpfs.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

mount_tmpfs 2m
part="$PSPF_DIR/topics/k/0"

expect_exit 0 pspf-topics create k -P 1
for i in 0 1 2 3 4; do printf '{"id":"e%d","key":"k%d"}\n' "$i" "$((i % 2))"; done >"$T/in"
expect_exit 0 pspf-produce k --key-field key -q "$T/in"
rm -f "$part"/*.hix
# Fill the file system to the last block.
dd if=/dev/zero of="$T/mnt/fill" bs=4k status=none 2>/dev/null || true

# pspf-replay --current-version writes nothing (not even the key index): it answers.
expect_exit 0 pspf-replay k --current-version --key k1
expect_eq "1" "$(cat "$OUT")" "version of k1 on a full disk"
# A writer that needs the key index (--expect-version) builds it: a clear error.
echo '{"id":"e8"}' | expect_exit 1 pspf-produce k -k k1 --expect-version 1 -q
expect_contains "$ERR" "pspf-produce: error: disk full: cannot allocate" "key index on a full disk"
expect_contains "$ERR" "$part/keys.hix.new-" "the message names the file"

printf '{"id":"e%d","key":"k1"}\n' 9 >"$T/more"
expect_exit 1 pspf-produce k --key-field key --id-field id -q "$T/more"
expect_contains "$ERR" "pspf-produce: error: disk full: cannot allocate" "id index on a full disk"
expect_eq "" "$(cd "$part" && ls | grep '\.new-' || true)" "no half-built index is left behind"

# With space again, the same commands work (nothing was left half-done).
rm "$T/mnt/fill"
expect_exit 0 pspf-replay k --current-version --key k1
expect_eq "1" "$(cat "$OUT")" "version of k1 (two events)"
expect_exit 0 pspf-produce k --key-field key --id-field id -q "$T/more"
expect_exit 0 pspf-replay k
expect_lines 6 "$OUT" "events after the retry"
exit 0
