#!/usr/bin/env bash
# JSON values survive `pspf-produce t < x; pspf-replay t`: Unicode, escapes, 64-bit and
# bigger integers, -0, exact doubles (1.0 stays 1.0), 500 levels of nesting, a 500 KB
# string, empty containers, object key order with duplicate keys. Envelopes made
# with -k, -K, --id-field and -H are exactly as asked, and `replay -J | produce -J`
# copies records losslessly.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

# --- the input --------------------------------------------------------------------
in=$T/in.jsonl
{
  # Unicode: accents, CJK, astral (raw and as a surrogate pair), U+2028/2029 raw
  # and escaped, a BOM-like U+FEFF inside a string, combining marks.
  printf '%s\n' '{"latin":"àéîõü ÀÉÎÕÜ ß ñ","cjk":"中文 日本語 한국어","astral":"😀 𝄞 𠜎","pair":"\ud83d\ude00\ud834\udd1e"}'
  printf '{"sep":"a\xe2\x80\xa8b\xe2\x80\xa9c","esc":"x\\u2028y\\u2029z","feff":"\xef\xbb\xbf","comb":"e\xcc\x81"}\n'
  # Escapes: \" \\ \/ \b \f \n \r \t, \u0000, every other control character, DEL.
  printf '%s\n' '{"q":"\"","bs":"\\","sl":"\/","ws":"\b\f\n\r\t","nul":"a\u0000b","c":"\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u000b\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u007f","hex":"\u00e9\u00E9\u4e2d"}'
  # Escapes and Unicode in object keys too.
  printf '%s\n' '{"k\"e\\y\n":1,"ключ":2,"\u0000":3,"":4}'
  # Integers: int64 min/max, uint64 max, 2^53+1, beyond 64 bits (both signs).
  printf '%s\n' '{"i64min":-9223372036854775808,"i64max":9223372036854775807,"u64max":18446744073709551615,"p53":9007199254740993,"big":123456789012345678901234567890,"nbig":-18446744073709551616,"zero":0}'
  # -0 (an integer) and -0.0 (a double).
  printf '%s\n' '{"negzero":-0,"negzerof":-0.0}'
  printf '%s\n' '-0'
  # Doubles.
  printf '%s\n' '{"a":0.1,"b":1e308,"c":5e-324,"d":1.0,"e":0.30000000000000004,"f":1.7976931348623157e308,"g":2.2250738585072014e-308,"h":-1.5e-10,"i":123456789.123456789,"j":1E400,"k":100.0}'
  printf '%s\n' '1.0'
  printf '%s\n' '[1.0,-2.0,3.25e2,0.5]'
  # Scalars at the root.
  printf '%s\n' 'true' 'false' 'null' '"just a string"' '42' '18446744073709551615'
  # Empties.
  printf '%s\n' '{}' '[]' '""' '{"o":{},"a":[],"s":""}' '[[],{},[[]],[{}]]'
  # Key order, duplicate keys.
  printf '%s\n' '{"z":1,"a":2,"m":3,"b":4}'
  printf '%s\n' '{"z":1,"a":2,"z":3}'
} >"$in"


# 500 levels of nesting: arrays and objects alternating around a value.
deep=""
for ((i = 0; i < 250; i++)); do deep+='{"d":['; done
deep+='"bottom",-1.5,9223372036854775807'
for ((i = 0; i < 250; i++)); do deep+=']}'; done
printf '%s\n' "$deep" >"$T/deep.json"
cat "$T/deep.json" >>"$in"
deep_line=$(line_count "$in")

# A 500 KB string of mixed text with escapes.
big='abcdefghij \"quoted\" back\\slash tab\t é 中 😀 \u0001 '
while [ ${#big} -lt 500000 ]; do big+=$big; done
printf '{"big":"%s","after":true}\n' "$big" >>"$in"
big_line=$(line_count "$in")
[ "$(stat -c %s "$in")" -gt 500000 ] || fail "the test input is too small"

# A line with insignificant whitespace everywhere.
printf '%s\n' ' { "sp" : [ 1 , 2 , { "x" : null } ] , "t" : true } ' >>"$in"
total=$(line_count "$in")

# --- produce and replay -----------------------------------------------------------
expect_exit 0 pspf-produce rt "$in"
expect_contains "$ERR" "appended $total events to topic rt"
expect_exit 0 pspf-replay rt
cp "$OUT" "$T/out.jsonl"
expect_lines "$total" "$T/out.jsonl" "replayed values"

# Several partitions: replay merges them by time, so read back in input order from
# a single-partition topic as well, and compare the multiset for the first one.
expect_exit 0 pspf-topics create rt1 -P 1
expect_exit 0 pspf-produce rt1 "$in"
expect_exit 0 pspf-replay rt1
cp "$OUT" "$T/out1.jsonl"
expect_lines "$total" "$T/out1.jsonl" "replayed values (1 partition)"

# Semantic comparison with jq, line by line (jq cannot parse 500 levels: that line
# is compared as text below).
norm() {  # FILE -> the values normalised by jq -c, the deep line left out
  sed "${deep_line}d" "$1" | jq -c . || echo "(jq could not parse all of $1)"
}
norm "$in" >"$T/in.norm"
norm "$T/out1.jsonl" >"$T/out1.norm"
expect_same_file "$T/in.norm" "$T/out1.norm" "values after produce | replay (jq -c per line)"
sort "$T/in.norm" >"$T/in.sorted"
norm "$T/out.jsonl" | sort >"$T/out.sorted"
expect_same_file "$T/in.sorted" "$T/out.sorted" "values of the 4-partition topic (as a multiset)"

# Text checks where jq's doubles are not exact enough. Whitespace may differ, so
# spaces are removed from the lines compared (these lines have none in strings).
line_of() { sed -n "${1}p" "$T/out1.jsonl" | tr -d ' '; }
ints=$(line_of 5)
for tok in '"i64min":-9223372036854775808' '"i64max":9223372036854775807' \
  '"u64max":18446744073709551615' '"p53":9007199254740993' \
  '"big":123456789012345678901234567890' '"nbig":-18446744073709551616' '"zero":0'; do
  case "$ints" in *"$tok"*) ;; *) fail "integer changed: [$tok] not in [$ints]" ;; esac
done
expect_eq '{"negzero":-0,"negzerof":-0.0}' "$(line_of 6)" "-0 and -0.0 keep their sign and form"
expect_eq '-0' "$(line_of 7)" "a root -0"
dbl=$(line_of 8)
for tok in '"d":1.0' '"k":100.0' '"a":0.1' '"c":5e-324' '"e":0.30000000000000004' \
  '"g":2.2250738585072014e-308' '"j":1E400'; do
  case "$dbl" in *"$tok"*) ;; *) fail "double changed: [$tok] not in [$dbl]" ;; esac
done
expect_eq '1.0' "$(line_of 9)" "a root 1.0"
expect_eq '[1.0,-2.0,325.0,0.5]' "$(line_of 10)" "doubles with integral values keep a fraction"
expect_eq '18446744073709551615' "$(line_of 16)" "a root uint64 max"
# Object key order and duplicate keys are kept as they are.
expect_eq '{"z":1,"a":2,"m":3,"b":4}' "$(sed -n "$((total - 4))p" "$T/out1.jsonl")" "key order"
expect_eq '{"z":1,"a":2,"z":3}' "$(sed -n "$((total - 3))p" "$T/out1.jsonl")" "duplicate keys"

# 500 levels: the same text (without whitespace).
sed -n "${deep_line}p" "$T/out1.jsonl" | tr -d ' ' >"$T/deep.out"
expect_same_file "$T/deep.json" "$T/deep.out" "500 levels of nesting"
# The 500 KB string: the same string, byte for byte.
sed -n "${big_line}p" "$in" | jq -r .big >"$T/big.in"
sed -n "${big_line}p" "$T/out1.jsonl" | jq -r .big >"$T/big.out"
[ "$(stat -c %s "$T/big.in")" -gt 500000 ] || fail "the big string did not parse"
expect_same_file "$T/big.in" "$T/big.out" "a 500 KB string"

# The raw Unicode comes back as the same characters (escaped or not).
expect_eq "$(sed -n 2p "$in" | jq -c .)" "$(sed -n 2p "$T/out1.jsonl" | jq -c .)" "U+2028/2029"
expect_eq $'a\u2028b\u2029c' "$(sed -n 2p "$T/out1.jsonl" | jq -j .sep)" "U+2028 decoded"
expect_eq '610062' "$(sed -n 3p "$T/out1.jsonl" | jq -j .nul | od -An -t x1 | tr -d ' \n')" \
  "\\u0000 inside a string survives"

# --- envelopes from -k, --id-field, -H, -K ------------------------------------------
expect_exit 0 pspf-topics create env -P 1
printf '%s\n' '{"id":"e1","v":1}' '{"id":7,"v":2}' '{"v":3}' '{"id":{"nested":true},"v":4}' >"$T/env.in"
head -3 "$T/env.in" >"$T/env3.in"
expect_exit 0 pspf-produce env -k 'ké y/1' --id-field id -H a=1 -H 'b=x=y' -H 'c=' <"$T/env3.in"
expect_exit 0 pspf-replay env -J
jq -c '{key,id,headers,value,partition,offset}' "$OUT" >"$T/env.got"
cat >"$T/env.want" <<'EOF'
{"key":"ké y/1","id":"e1","headers":{"a":"1","b":"x=y","c":""},"value":{"id":"e1","v":1},"partition":0,"offset":0}
{"key":"ké y/1","id":"7","headers":{"a":"1","b":"x=y","c":""},"value":{"id":7,"v":2},"partition":0,"offset":1}
{"key":"ké y/1","id":null,"headers":{"a":"1","b":"x=y","c":""},"value":{"v":3},"partition":0,"offset":2}
EOF
expect_same_file "$T/env.want" "$T/env.got" "envelopes from -k --id-field -H"
jq -e 'has("topic") and has("timestamp") and .topic == "env" and (.timestamp|type) == "number"' \
  "$OUT" >/dev/null || fail "envelope lacks topic/timestamp"
expect_eq 'topic,partition,offset,timestamp,key,id,headers,value' \
  "$(head -1 "$OUT" | jq -r 'keys_unsorted | join(",")')" "envelope field order"

# -K: key DELIM json; a key with spaces and Unicode.
printf 'key one|{"v":1}\nclé 2|{"v":"|"}\n|{"v":3}\n' >"$T/kd.in"
expect_exit 0 pspf-topics create kd -P 1
expect_exit 0 pspf-produce kd -K '|' "$T/kd.in"
expect_exit 0 pspf-replay kd -J
expect_eq '["key one",{"v":1}]|["clé 2",{"v":"|"}]|["",{"v":3}]' \
  "$(jq -c '[.key,.value]' "$OUT" | paste -sd'|')" "keys and values from -K"

# --key-field takes the key from a nested field; a number key is its JSON text.
printf '%s\n' '{"item":{"id":"A-1"},"n":1}' '{"item":{"id":42},"n":2}' >"$T/kf.in"
expect_exit 0 pspf-topics create kf -P 1
expect_exit 0 pspf-produce kf --key-field item.id "$T/kf.in"
expect_exit 0 pspf-replay kf -J
expect_eq 'A-1|42' "$(jq -r .key "$OUT" | paste -sd'|')" "keys from --key-field item.id"

# --- -J round trip: replay -J | produce -J | replay -J -------------------------------
# Strips the fields the log decides (topic, partition, offset, timestamp); compared
# as text so that big integers and duplicate keys are compared exactly.
strip_env() { sed -E 's/^\{"topic":"[^"]*","partition":[0-9]+,"offset":[0-9]+,"timestamp":[0-9]+,//' "$1"; }
jround() {  # SRC DST: copies SRC into a new 1-partition topic DST through envelopes
  expect_exit 0 pspf-topics create "$2" -P 1
  pspf-replay "$1" -J >"$T/$1.env" || fail "replay -J $1"
  pspf-produce "$2" -J -q "$T/$1.env" || fail "produce -J $2"
  pspf-replay "$2" -J >"$T/$2.env" || fail "replay -J $2"
  strip_env "$T/$1.env" >"$T/$1.stripped"
  strip_env "$T/$2.env" >"$T/$2.stripped"
  [ "$(line_count "$T/$1.stripped")" -gt 0 ] || fail "nothing to copy in $1"
  grep -q '^{"topic"' "$T/$1.stripped" && fail "envelopes of $1 not in the expected form"
  expect_same_file "$T/$1.stripped" "$T/$2.stripped" "-J round trip of $1 into $2"
}
jround rt1 rt1copy
jround env envcopy
jround kd kdcopy

# A hand-written envelope with odd keys, ids and headers, then copied once more.
expect_exit 0 pspf-topics create hand -P 1
cat >"$T/hand.env" <<'EOF'
{"key":"nul\u0000key\n","id":"id\"1","headers":{"h\\1":"v\u00e9","dup":"1","dup":"2","":""},"value":{"x":18446744073709551615}}
{"key":null,"id":null,"headers":{},"value":null}
{"value":[1.0,"😀"]}
{"topic":"ignored","partition":3,"offset":99,"timestamp":5,"key":"k","id":"i","headers":{},"value":-0.0}
EOF
expect_exit 0 pspf-produce hand -J "$T/hand.env"
expect_exit 0 pspf-replay hand -J
strip_env "$OUT" >"$T/hand.got"
cat >"$T/hand.want" <<'EOF'
"key":"nul\u0000key\n","id":"id\"1","headers":{"h\\1":"vé","dup":"1","dup":"2","":""},"value":{"x":18446744073709551615}}
"key":null,"id":null,"headers":{},"value":null}
"key":null,"id":null,"headers":{},"value":[1.0,"😀"]}
"key":"k","id":"i","headers":{},"value":-0.0}
EOF
# Compare through jq for the escapes' spelling, and as text for the rest.
expect_eq "$(sed 's/^/{/' "$T/hand.want" | jq -c .)" "$(sed 's/^/{/' "$T/hand.got" | jq -c .)" \
  "envelopes given to produce -J"
expect_eq "$(jq -c '[.partition,.offset]' "$OUT" | paste -sd' ')" '[0,0] [0,1] [0,2] [0,3]' \
  "produce -J ignores topic/partition/offset of the input"
grep -qF '"dup":"1","dup":"2"' "$T/hand.got" || fail "duplicate header names were not kept"
grep -qF '18446744073709551615' "$T/hand.got" || fail "uint64 max changed inside an envelope"
jround hand handcopy

# -H takes one NAME=VALUE (it is repeatable), so an input file may follow it, as in
# kcat. Checked last so that the checks above run even while this fails.
expect_exit 0 pspf-topics create hfile -P 1
expect_exit 0 pspf-produce hfile -H a=1 "$T/env3.in"
expect_exit 0 pspf-replay hfile -J
expect_eq '{"a":"1"}|{"a":"1"}|{"a":"1"}' "$(jq -c .headers "$OUT" | paste -sd'|')" \
  "headers when a file follows -H"

echo "ok: $total values, envelopes and -J round trips"
