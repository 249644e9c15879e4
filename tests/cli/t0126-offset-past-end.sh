#!/usr/bin/env bash
# A committed offset past the log end (the log lost records the group consumed: here
# the segment is emptied, as a power loss under --sync none can leave it, and
# pspf-topics repair gives the lost offsets up, as writers ask) is reported
# by pspf-offsets describe (stderr warning, negative lag, "past_log_end") and by the
# member that takes the partition, which restarts it as --from says and so hands out
# the records that took the lost offsets, instead of skipping them silently.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

expect_exit 0 pspf-topics create t -P 1
seq 1 10 | jq -c '{n: .}' | pspf-produce -q t
expect_exit 0 pspf-consume -g g t -e
expect_lines 10 "$OUT" "first run"

# The tail is lost: the segment is emptied, then three new events take offsets 0..2.
: >"$(segment_path t 0)"
expect_exit 0 pspf-offsets describe -g g --json
expect_contains "$ERR" "committed offset 10 is past the log end 0" "describe warns"
expect_eq "true -10" "$(jq -r '.[0] | "\(.past_log_end) \(.lag)"' "$OUT")" "describe's JSON"
# Acknowledged events are gone: writers refuse until repair gives them up.
expect_exit 1 pspf-produce -q t <<<'{"new":0}'
expect_contains "$ERR" "acknowledged events are damaged or missing"
expect_exit 0 pspf-topics repair t
expect_contains "$OUT" "offsets 0 to 9 are lost"
printf '{"new":%d}\n' 1 2 3 | pspf-produce -q t
expect_exit 0 pspf-offsets describe -g g
expect_contains "$ERR" "committed offset 10 is past the log end 3"
expect_contains "$OUT" "-7"

# The member warns, restarts at the beginning (the default --from), commits.
expect_exit 0 pspf-consume -g g t -e
expect_contains "$ERR" "committed offset 10 is past the log end 3"
expect_contains "$ERR" "restarting at offset 0 as --from says"
expect_eq "1 2 3" "$(jq -r .new "$OUT" | tr '\n' ' ' | sed 's/ $//')" "the new records are handed out"
expect_exit 0 pspf-offsets describe -g g --json
expect_empty "$ERR" "no warning once the group is back in range"
expect_eq "false 0" "$(jq -r '.[0] | "\(.past_log_end) \(.lag)"' "$OUT")" "describe after the restart"

# With --from end the member skips to the log end instead.
expect_exit 0 pspf-consume -g h t -e
: >"$(segment_path t 0)"
expect_exit 0 pspf-topics repair t
printf '{"new":%d}\n' 4 | pspf-produce -q t
expect_exit 0 pspf-consume -g h t -e --from end
expect_contains "$ERR" "restarting at offset 1 as --from says"
expect_empty "$OUT" "--from end hands out nothing"
echo ok
