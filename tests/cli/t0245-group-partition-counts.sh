#!/usr/bin/env bash
# Consumer groups over topics of 3, 7 and 12 partitions (counts that are not powers
# of two): two members started one after the other with -c share the work, every
# event is handed out exactly once over the runs, each from the partition Kafka's
# partitioner gives its key (the same table as t0106, keys whose murmur2 is
# negative), and pspf-offsets describe shows every partition at lag 0.
# shellcheck disable=SC2016  # --exec commands expand their variables in their own shell
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
for t in pspf-consume pspf-offsets; do [ -x "$PSPF_BIN/$t" ] || skip "$t is not built"; done

# key  partition with 3, 7, 12 partitions (tests/unit/murmur2_test.cpp)
cat >table.txt <<'TABLE'
21 0 3 0
foobar 0 0 6
a-little-bit-long-string 2 1 8
a-little-bit-longer-string 2 0 11
1 0 2 3
123 2 3 5
1234 0 0 0
12345 2 3 8
kafka 1 3 4
TABLE
# 20 events of each key.
awk '{k[NR] = $1} END {for (i = 0; i < 20 * NR; i++) printf "{\"k\":\"%s\",\"n\":%d}\n", k[i % NR + 1], i}' \
  table.txt >in.jsonl

col=2
for n in 3 7 12; do
  expect_exit 0 pspf-produce "t$n" --partitions "$n" --key-field k -q in.jsonl
  : >got.txt
  # A first run takes some, a second the rest: the second starts from the first's commits.
  expect_exit 0 pspf-consume -g g "t$n" -e -c 50 --exec 'jq -r --arg p "$PSPF_PARTITION" "\"\(.k) \(.n) \(\$p)\"" >>got.txt'
  expect_exit 0 pspf-consume -g g "t$n" -e --exec 'jq -r --arg p "$PSPF_PARTITION" "\"\(.k) \(.n) \(\$p)\"" >>got.txt'
  expect_lines 180 got.txt "events handed out over both runs ($n partitions)"
  expect_eq 180 "$(cut -d' ' -f2 got.txt | sort -u | wc -l)" "distinct events handed out ($n partitions)"
  # Every event came from its key's partition.
  awk -v c="$col" 'NR == FNR {want[$1] = $c; next} $3 != want[$1] {print "key " $1 " from partition " $3 ", want " want[$1]; bad = 1} END {exit bad}' \
    table.txt got.txt || fail "events came from the wrong partition with $n partitions"
  pspf-offsets describe -g g --json >desc.json
  expect_eq "$n" "$(jq '[.[] | select(.topic == "t'"$n"'")] | length' desc.json)" "partitions described for t$n"
  jq -e 'all(.[]; .lag == 0)' desc.json >/dev/null || fail "lag left on t$n: $(cat desc.json)"
  col=$((col + 1))
done
echo ok
