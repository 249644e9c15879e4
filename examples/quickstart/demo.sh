#!/usr/bin/env bash
# A five-minute tour of pspf: builds it (installing Debian packages as root when
# missing), then pipes events into a partitioned log and reads them back.
# Leaves its data in ${PSPF_DEMO_DIR:-/tmp/pspf-quickstart} and can be re-run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(bash "$here/../../scripts/build.sh" | tail -n 1)
export PATH="$bin:$PATH"
export PSPF_DIR=${PSPF_DEMO_DIR:-/tmp/pspf-quickstart}
rm -rf "$PSPF_DIR"

say() { printf '\n== %s\n' "$*"; }

say "Create a topic 'orders' with 3 partitions"
pspf-topics create orders --partitions 3

say "Append five events keyed by customer (receipts show where each went)"
cat <<'JSON' | pspf-produce orders --key-field customer --receipts
{"order":1,"customer":"ada","total":12.50}
{"order":2,"customer":"bob","total":3}
{"order":3,"customer":"ada","total":7.25}
{"order":4,"customer":"cy","total":99.99}
{"order":5,"customer":"bob","total":1}
JSON

say "Read them back, merged across partitions in append order"
pspf-replay orders

say "Only ada's events (read from her partition alone)"
pspf-replay orders --key ada

say "Whole records, as envelopes, shaped with jq"
pspf-replay orders -J | jq -c '{partition, offset, key, total: .value.total}'

say "Totals per customer, straight from the log"
pspf-replay orders | jq -s -c 'group_by(.customer) | map({customer: .[0].customer, total: (map(.total) | add)})'

say "The last event of each partition"
pspf-replay orders -o -1 --no-merge -J | jq -c '{partition, offset, order: .value.order}'

say "What is on disk"
pspf-topics describe orders

say "Every checksum and index verified"
pspf-topics verify orders

printf '\nData left in %s. Try: PSPF_DIR=%s pspf-replay orders -J | jq .\n' "$PSPF_DIR" "$PSPF_DIR"
