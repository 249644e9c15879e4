#!/usr/bin/env bash
# Damage to the log and its indexes, as pspf-log(5) and the issue promise:
# - a bad batch followed by valid data is corruption: replay exits 1 naming topic,
#   partition, segment and byte; verify exits 1 and reports it; produce refuses to
#   append behind it; repair --dry-run changes nothing; repair cuts it (and drops
#   later segments), after which verify passes, replay prints exactly the events
#   before the damage and the next append gets the next offset; a group member
#   prints and commits the events before the damage, exits 1, and after the repair
#   goes on from there without printing them again;
# - a damaged last batch of a closed segment: pspf-compact (compaction and
#   retention) exits 1 naming the segment and leaves it as it is;
# - a torn tail (the last batch cut short, or zeros after the last batch) is
#   invisible: replay exits 0 with everything before it, verify exits 0 with a note,
#   and the next append cuts it off and takes the next offset;
# - indexes are caches: without them replay, --from N and --from @T stay exact; a
#   wrong entry is reported by verify, ignored by readers and rebuilt by repair.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

# make_topic NAME EVENTS [CREATE OPTIONS...]: a 1-partition topic holding events
# {"n":0}..{"n":EVENTS-1}, one batch each (--sync always appends record by record).
make_topic() {
  local name=$1 count=$2
  shift 2
  expect_exit 0 pspf-topics create "$name" -P 1 "$@"
  seq 0 $((count - 1)) | sed 's/.*/{"n":&}/' >"$T/$name.in"
  expect_exit 0 pspf-produce "$name" --sync always -q "$T/$name.in"
}
# events_upto N: the values {"n":0}..{"n":N-1}, one a line.
events_upto() {
  if [ "$1" -gt 0 ]; then seq 0 $(($1 - 1)) | sed 's/.*/{"n":&}/'; fi
}
part_digest() { tree_digest "$PSPF_DIR/topics/$1"; }

# check_corrupt TOPIC SEGMENT POS GOOD WHY: the damage at byte POS of SEGMENT, with
# GOOD events before it, is reported and repaired as it must be.
check_corrupt() {
  local topic=$1 seg=$2 pos=$3 good=$4 why=$5 size before printed
  size=$(stat -c %s "$seg")
  # replay: exit 1, names the place; prints no event from the damage on.
  expect_exit 1 pspf-replay "$topic"
  expect_contains "$ERR" "pspf-replay: error: topic $topic partition 0 segment $seg: bad batch at byte $pos: $why" \
    "replay of a corrupt partition"
  events_upto "$good" >"$T/good"
  head -n "$(line_count "$OUT")" "$T/good" >"$T/prefix"
  expect_same_file "$T/prefix" "$OUT" "what replay printed before failing"
  # verify: exit 1, the same place, how many bytes follow it.
  expect_exit 1 pspf-topics verify "$topic"
  expect_contains "$OUT" "topic $topic partition 0: DAMAGED: segment $seg: bad batch at byte $pos: $why" \
    "verify of a corrupt partition"
  expect_exit 1 pspf-topics verify "$topic" --json
  expect_eq "[{\"status\":\"damaged\",\"segment\":\"$seg\",\"position\":$pos,\"records\":$good}]" \
    "$(jq -c '[.[] | {status,segment,position,records}]' "$OUT")" "verify --json of a corrupt partition"
  # consume: exit 1 at the damage (found up front when it lies in the segment the
  # log's end is read from), with what it printed before committed.
  expect_exit 1 pspf-consume "$topic" -g "dmg-$topic" -e
  expect_contains "$ERR" "bad batch at byte $pos: $why" "consume of a corrupt partition"
  printed=$(line_count "$OUT")
  head -n "$printed" "$T/good" >"$T/prefix"
  expect_same_file "$T/prefix" "$OUT" "what consume printed before failing"
  expect_exit 0 pspf-offsets describe -g "dmg-$topic" --json
  expect_eq "$printed" "$(jq '.[0].current_offset // 0' "$OUT")" "consume commits what it printed"
  before=$(part_digest "$topic")
  # produce: refuses to append behind the damage.
  expect_exit 1 pspf-produce "$topic" <<<'{"n":"late"}'
  expect_contains "$ERR" "bad batch at byte $pos" "produce to a corrupt partition"
  expect_eq "$before" "$(part_digest "$topic")" "partition after a refused produce"
  # repair --dry-run: says what it would drop, changes nothing.
  expect_exit 0 pspf-topics repair "$topic" --dry-run
  expect_contains "$OUT" "bad batch at byte $pos"
  expect_contains "$OUT" "dry run: nothing changed"
  expect_eq "$before" "$(part_digest "$topic")" "partition after repair --dry-run"
  # repair: cuts the segment at the damage.
  expect_exit 0 pspf-topics repair "$topic"
  expect_contains "$OUT" "bad batch at byte $pos"
  expect_contains "$OUT" "(offsets from $good on)"
  expect_eq "$pos" "$(stat -c %s "$seg")" "size of the repaired segment"
  expect_exit 0 pspf-topics verify "$topic"
  expect_eq "topic $topic partition 0: ok, $good records" "$(cat "$OUT")" "verify after repair"
  expect_exit 0 pspf-replay "$topic"
  events_upto "$good" >"$T/want"
  expect_same_file "$T/want" "$OUT" "replay after repair"
  expect_exit 0 pspf-produce "$topic" --receipts -q <<<'{"n":"next"}'
  expect_eq "0 $good" "$(jq -r '"\(.partition) \(.offset)"' "$OUT")" "the append after repair"
  expect_exit 0 pspf-replay "$topic" --from "$good"
  expect_eq '{"n":"next"}' "$(cat "$OUT")" "the appended event"
  expect_exit 0 pspf-consume "$topic" -g "dmg-$topic" -e
  { tail -n +$((printed + 1)) "$T/want" && echo '{"n":"next"}'; } >"$T/rest"
  expect_same_file "$T/rest" "$OUT" "consume after repair goes on from its commit"
  expect_eq 0 "$(jq -n "$size - $pos - $(stat -c %s "$seg") + $pos > 0 | if . then 0 else 1 end")" "bytes cut"
}

# --- a flipped byte in the records of a middle batch ---------------------------------
make_topic flip 20
seg=$(segment_path flip 0)
mapfile -t pos < <(batch_positions "$seg")
expect_eq 20 "${#pos[@]}" "batches in the segment"
expect_eq "$(stat -c %s "$seg")" "$((pos[19] + $(u32_at "$seg" $((pos[19] + 4)))))" "batches cover the segment"
flip_byte "$seg" $((pos[10] + 58))
check_corrupt flip "$seg" "${pos[10]}" 10 "checksum mismatch"

# --- a flipped byte in a middle batch's length (its header check catches it) ---------
make_topic hdr 20
seg=$(segment_path hdr 0)
mapfile -t pos < <(batch_positions "$seg")
flip_byte "$seg" $((pos[7] + 5))
check_corrupt hdr "$seg" "${pos[7]}" 7 "header checksum mismatch"

# --- a middle batch zeroed (a hole), valid batches after it --------------------------
make_topic hole 20
seg=$(segment_path hole 0)
mapfile -t pos < <(batch_positions "$seg")
dd if=/dev/zero of="$seg" bs=1 seek="${pos[12]}" count=$((pos[13] - pos[12])) conv=notrunc status=none
check_corrupt hole "$seg" "${pos[12]}" 12 "no batch magic"

# --- damage in the second of several segments -----------------------------------------
expect_exit 0 pspf-topics create multi -P 1 --segment-bytes 1024
pad=$(printf '%0200d' 0)
for i in $(seq 0 19); do printf '{"n":%d,"pad":"%s"}\n' "$i" "$pad"; done >"$T/multi.in"
expect_exit 0 pspf-produce multi --sync always -q "$T/multi.in"
mapfile -t segs < <(find "$PSPF_DIR/topics/multi/0" -name '*.log' | sort)
[ "${#segs[@]}" -ge 4 ] || fail "only ${#segs[@]} segments with --segment-bytes 1024"
mapfile -t pos < <(batch_positions "${segs[1]}")
[ "${#pos[@]}" -ge 2 ] || fail "the second segment has ${#pos[@]} batches"
first=$((10#$(basename "${segs[1]}" .log)))  # offset of the second segment's first event
flip_byte "${segs[1]}" $((pos[1] + 100))
expect_exit 1 pspf-replay multi
expect_contains "$ERR" "topic multi partition 0 segment ${segs[1]}: bad batch at byte ${pos[1]}: checksum mismatch"
# A member prints the events before the damage, commits them, and stops (exit 1).
expect_exit 1 pspf-consume multi -g m -e
expect_contains "$ERR" "segment ${segs[1]}: bad batch at byte ${pos[1]}: checksum mismatch"
head -n $((first + 1)) "$T/multi.in" >"$T/multi.good"
expect_same_file "$T/multi.good" "$OUT" "what consume printed before the damaged segment"
expect_exit 1 pspf-topics verify multi
expect_contains "$OUT" "DAMAGED: segment ${segs[1]}: bad batch at byte ${pos[1]}: checksum mismatch"
before=$(part_digest multi)
expect_exit 0 pspf-topics repair multi --dry-run
expect_eq "$before" "$(part_digest multi)" "segments after repair --dry-run"
expect_exit 0 pspf-topics repair multi
expect_contains "$OUT" "(offsets from $((first + 1)) on)"
# The damaged segment is cut, the later ones (and their indexes) are gone.
expect_eq "${pos[1]}" "$(stat -c %s "${segs[1]}")" "size of the repaired segment"
expect_eq "$(basename "${segs[0]}" .log) $(basename "${segs[1]}" .log)" \
  "$(find "$PSPF_DIR/topics/multi/0" -name '*.log' -printf '%f\n' | sort | sed 's/\.log$//' | paste -sd' ')" \
  "segments left"
expect_eq 0 "$(find "$PSPF_DIR/topics/multi/0" -name '*index' | grep -cv -e "$(basename "${segs[0]}" .log)" \
  -e "$(basename "${segs[1]}" .log)" || true)" "index files of dropped segments"
expect_exit 0 pspf-topics verify multi
expect_exit 0 pspf-offsets describe -g m --json
expect_eq $((first + 1)) "$(jq '.[0].current_offset' "$OUT")" "consume committed what it printed"
expect_exit 0 pspf-consume multi -g m -e
expect_eq "" "$(cat "$OUT")" "consume after repair: nothing printed again"
expect_exit 0 pspf-replay multi
expect_eq "$(seq 0 "$first" | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" "replay after repair"
expect_exit 0 pspf-produce multi --receipts -q <<<'{"n":"next"}'
expect_eq $((first + 1)) "$(jq .offset "$OUT")" "offset of the append after repair"

# --- torn tails -----------------------------------------------------------------------
# torn_case NAME HOW: HOW is "cut N" (the last batch cut to N bytes) or "zeros N"
# (N zero bytes after the last batch).
torn_case() {
  local name=$1 how=$2 n=$3 seg last size dropped
  # The last event's append is not acknowledged: only such a batch can be torn.
  make_topic "$name" 19
  unpublished "$name" 0 pspf-produce "$name" --sync always -q <<<'{"n":19}'
  seg=$(segment_path "$name" 0)
  last=$(batch_positions "$seg" | tail -1)
  if [ "$how" = cut ]; then
    truncate -s $((last + n)) "$seg"
    dropped=$n
    good=19
  else
    head -c "$n" /dev/zero >>"$seg"
    dropped=$n
    good=20
  fi
  size=$(stat -c %s "$seg")
  expect_exit 0 pspf-replay "$name"
  expect_empty "$ERR" "$name: replay stderr"
  events_upto "$good" >"$T/want"
  expect_same_file "$T/want" "$OUT" "$name: replay of a torn tail"
  expect_exit 0 pspf-replay "$name" --from -1
  expect_eq "{\"n\":$((good - 1))}" "$(cat "$OUT")" "$name: --from -1 with a torn tail"
  expect_exit 0 pspf-topics verify "$name"
  expect_contains "$OUT" "topic $name partition 0: ok, $good records; note: segment $seg: torn tail"
  expect_exit 0 pspf-topics describe "$name" --json
  expect_eq "[0,$good,$good]" "$(jq -c '.partition_details[0] | [.start,.end,.records]' "$OUT")" \
    "$name: describe with a torn tail"
  expect_eq "$size" "$(stat -c %s "$seg")" "$name: readers changed the segment"
  expect_exit 0 pspf-produce "$name" --receipts <<<'{"n":"next"}'
  expect_eq "0 $good" "$(jq -r '"\(.partition) \(.offset)"' "$OUT")" "$name: the append after a torn tail"
  expect_contains "$ERR" "cut off a torn tail of $dropped bytes"
  expect_exit 0 pspf-replay "$name"
  { events_upto "$good"; echo '{"n":"next"}'; } >"$T/want"
  expect_same_file "$T/want" "$OUT" "$name: replay after the append"
  expect_exit 0 pspf-topics verify "$name"
  expect_eq "topic $name partition 0: ok, $((good + 1)) records" "$(cat "$OUT")" "$name: verify after the append"
}
torn_case torn-body cut 60
torn_case torn-header cut 20
torn_case torn-1byte cut 1
torn_case torn-zeros zeros 4096

# --- indexes ----------------------------------------------------------------------------
expect_exit 0 pspf-topics create ix -P 1
pad=$(printf '%0900d' 0)
for i in $(seq 0 99); do printf '{"n":%d,"pad":"%s"}\n' "$i" "$pad"; done >"$T/ix.in"
expect_exit 0 pspf-produce ix --sync always -q "$T/ix.in"
idx=$(segment_path ix 0 0 .index)
tidx=$(segment_path ix 0 0 .timeindex)
cp "$idx" "$T/ix.index"
cp "$tidx" "$T/ix.timeindex"
entries=$(($(stat -c %s "$idx") / 8))
[ "$entries" -ge 10 ] || fail "only $entries index entries for 100 KB"
expect_eq $((entries * 12)) "$(stat -c %s "$tidx")" "time index entries"
expect_exit 0 pspf-replay ix -J
cp "$OUT" "$T/ix.all"
ts60=$(jq -s '.[60].timestamp' "$T/ix.all")
# check_reads WHAT: full replay, --from 77, --from @(time of event 60), --until 33.
check_reads() {
  expect_exit 0 pspf-replay ix -J
  expect_same_file "$T/ix.all" "$OUT" "$1: replay"
  expect_exit 0 pspf-replay ix --from 77
  expect_eq "$(seq 77 99 | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" "$1: --from 77"
  expect_exit 0 pspf-replay ix -J --from "@$ts60"
  jq -c "select(.timestamp >= $ts60)" "$T/ix.all" >"$T/want"
  expect_same_file "$T/want" "$OUT" "$1: --from @time"
  expect_exit 0 pspf-replay ix --until 33
  expect_eq "$(seq 0 32 | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" "$1: --until 33"
}
check_reads "with indexes"

# Without index files.
rm "$idx" "$tidx"
check_reads "without index files"
expect_exit 0 pspf-topics verify ix
expect_eq "topic ix partition 0: ok, 100 records" "$(cat "$OUT")" "verify without index files"
cp "$T/ix.index" "$idx"
cp "$T/ix.timeindex" "$tidx"

# A wrong offset-index entry: entry k points one byte past its batch.
k=$((entries / 2))
eoff=$(u32_at "$idx" $((k * 8)))
epos=$(u32_at "$idx" $((k * 8 + 4)))
put_u32 "$idx" $((k * 8 + 4)) $((epos + 1))
check_reads "with a wrong index entry"
expect_exit 0 pspf-replay ix --from "$eoff"
expect_eq "$(seq "$eoff" 99 | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" "--from the wrong entry's offset"
expect_exit 1 pspf-topics verify ix
expect_contains "$OUT" "topic ix partition 0: INDEX: $idx: entry $k (offset $eoff, byte $((epos + 1))) does not point at a batch with that offset"
expect_exit 1 pspf-topics verify ix --json
expect_eq '"index-damaged"' "$(jq '.[0].status' "$OUT")" "verify --json status of a wrong index entry"
expect_exit 0 pspf-topics repair ix --dry-run
expect_contains "$OUT" "rebuilding indexes"
cmp -s "$T/ix.index" "$idx" && fail "repair --dry-run fixed the index"
expect_exit 0 pspf-topics repair ix
expect_contains "$OUT" "topic ix partition 0: rebuilding indexes"
expect_same_file "$T/ix.index" "$idx" "the rebuilt index"
expect_same_file "$T/ix.timeindex" "$tidx" "the rebuilt time index"
expect_exit 0 pspf-topics verify ix
check_reads "after rebuilding the index"

# A wrong time-index entry, still in order: entry k gets the time of entry k-1, for
# a k whose time differs from it. On a fast disk (tmpfs) every batch may get the same
# millisecond: then the last entry gets its time plus 1 instead.
tk=""
for ((k = entries / 2; k < entries; k++)); do
  if [ "$(i64_at "$tidx" $((k * 12)))" != "$(i64_at "$tidx" $(((k - 1) * 12)))" ]; then
    tk=$k
    break
  fi
done
if [ -n "$tk" ]; then
  put_i64 "$tidx" $((tk * 12)) "$(i64_at "$tidx" $(((tk - 1) * 12)))"
else
  tk=$((entries - 1))
  put_i64 "$tidx" $((tk * 12)) $(($(i64_at "$tidx" $((tk * 12))) + 1))
fi
check_reads "with a wrong time index entry"
expect_exit 1 pspf-topics verify ix
expect_contains "$OUT" "topic ix partition 0: INDEX: $tidx: entry $tk"
expect_exit 0 pspf-topics repair ix
expect_same_file "$T/ix.timeindex" "$tidx" "the rebuilt time index"
expect_exit 0 pspf-topics verify ix

# Index files full of 0xff bytes: readers still read exactly; verify reports them;
# repair rebuilds them.
head -c 4000 /dev/zero | tr '\0' '\377' >"$idx"
cp "$idx" "$tidx"
check_reads "with index files full of 0xff"
expect_exit 1 pspf-topics verify ix
expect_contains "$OUT" "topic ix partition 0: INDEX: $idx: "
expect_contains "$OUT" "; $tidx: " "the time index's damage, named as its own file"
expect_lines 1 "$OUT" "verify: one line for the partition"
expect_exit 0 pspf-topics repair ix
expect_same_file "$T/ix.index" "$idx" "the index rebuilt from garbage"
expect_same_file "$T/ix.timeindex" "$tidx" "the time index rebuilt from garbage"
expect_exit 0 pspf-produce ix --receipts -q <<<'{"n":100}'
expect_eq 100 "$(jq .offset "$OUT")" "offset of the append after index repairs"

# --- a torn last batch that an index entry points at -----------------------------------
# (the index is a cache written after the batch; after a crash it may name a batch
# whose bytes did not all reach the disk.) Events of 1000 bytes, one batch each,
# until the last batch has an index entry; then that batch, whose append is left
# unpublished (not acknowledged), is cut to 70 bytes.
expect_exit 0 pspf-topics create tornix -P 1
seg=$(segment_path tornix 0)
idx=$(segment_path tornix 0 0 .index)
expect_exit 0 pspf-produce tornix -q <<<"{\"n\":0,\"pad\":\"$pad\"}"
for ((i = 1; i < 40; i++)); do
  unpublished tornix 0 pspf-produce tornix -q <<<"{\"n\":$i,\"pad\":\"$pad\"}"
  last=$(batch_positions "$seg" | tail -1)
  [ "$(u32_at "$idx" $(($(stat -c %s "$idx") - 4)))" = "$last" ] && break
done
[ "$i" -lt 40 ] || fail "no index entry for a last batch"
truncate -s $((last + 70)) "$seg"
expect_exit 0 pspf-replay tornix
expect_eq "$(seq 0 $((i - 1)) | paste -sd' ')" "$(jq -r .n "$OUT" | paste -sd' ')" \
  "replay of a torn last batch that the index points at"
expect_exit 0 pspf-produce tornix --receipts <<<'{"n":"next"}'
expect_eq "$i" "$(jq .offset "$OUT")" "offset of the append after a torn indexed batch"
expect_contains "$ERR" "cut off a torn tail of 70 bytes"
expect_exit 0 pspf-topics verify tornix
expect_exit 0 pspf-replay tornix --from -1
expect_eq '{"n":"next"}' "$(cat "$OUT")" "the last event after the append"

# The last batch of a closed segment damaged: pspf-compact and retention refuse it
# (exit 1, naming the segment) and leave it as it is. Compaction used to stop reading
# there, write the segment's copy without that batch and exit 0: the events were
# gone, and replay and verify clean again.
for policy in compact delete; do
  expect_exit 0 pspf-topics create "closed-$policy" -P 1 --segment-bytes 1024 --cleanup "$policy" \
    --retention-time 1s
  for ((r = 0; r < 12; r++)); do
    seq 0 4 | sed "s/.*/{\"k\":\"k&\",\"r\":$r}/" >"$T/closed.in"
    expect_exit 0 pspf-produce "closed-$policy" --key-field k -q "$T/closed.in"
  done
  seg=$(segment_path "closed-$policy" 0 0)
  [ -f "$(segment_path "closed-$policy" 0 35)" ] || fail "closed-$policy: segment 0 is not closed"
  flip_byte "$seg" $(($(stat -c %s "$seg") - 5))
  cp "$seg" "$T/closed.before"
  wait_clock_past $(($(now_ms) + 1100))  # segment 0 past retention
  expect_exit 1 pspf-compact "closed-$policy"
  expect_contains "$ERR" "pspf-compact: error: segment $seg: bad batch at byte"
  expect_same_file "$T/closed.before" "$seg" "closed-$policy: the damaged segment"
  expect_exit 1 pspf-topics verify "closed-$policy"
done

echo "ok: corruption, torn tails and indexes"
