#!/usr/bin/env bash
# Each kind of invalid input line stops pspf-produce with exit 65 and
# "NAME:LINE: why" on stderr; the lines before it are appended (and readable), the
# bad line and those after it are not. --skip-invalid --reject-file goes on and
# keeps exactly the bad lines. Empty lines are skipped, CRLF is accepted. A line
# found too long ends the import at once (no reading on to a newline that may never
# come); a signal ends it too, and a line not yet whole is never appended.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

n=0
# bad_line WHY BAD_LINE_PRINTF [PRODUCE OPTIONS...]: a file of two good lines, the
# bad line and one more good line; checks exit 65, the message, and that the topic
# holds exactly the two good lines before it (and verify passes).
bad_line() {
  local why=$1 bad=$2
  shift 2
  n=$((n + 1))
  local f=$T/in$n.jsonl topic=bad$n
  printf '{"k":"a","n":1}\n{"k":"b","n":2}\n' >"$f"
  # shellcheck disable=SC2059  # the bad line is a printf format on purpose
  printf "$bad\n" >>"$f"
  printf '{"k":"c","n":4}\n' >>"$f"
  expect_exit 65 pspf-produce "$topic" --partitions 1 -q "$@" "$f"
  expect_contains "$ERR" "pspf-produce: error: $f:3: " "$why: message"
  expect_lines 1 "$ERR" "$why: stderr"
  expect_empty "$OUT" "$why: stdout"
  expect_exit 0 pspf-replay "$topic"
  expect_eq '{"k":"a","n":1}|{"k":"b","n":2}' "$(paste -sd'|' "$OUT")" "$why: what was appended"
  # The log stays usable: the next append gets the next offset.
  expect_exit 0 pspf-produce "$topic" -q --receipts "$@" <<<'{"k":"d","n":5}'
  expect_contains "$OUT" '"offset":2,' "$why: receipt of the next append"
}

# printf formats: \xHH is a raw byte, \\ a backslash.
bad_line "not JSON" 'hello'
bad_line "trailing comma in an object" '{"a":1,}'
bad_line "trailing comma in an array" '[1,2,]'
bad_line "two values on a line" '{"a":1} {"b":2}'
bad_line "two numbers on a line" '1 2'
bad_line "a value and garbage" '{"a":1}x'
bad_line "an unclosed object" '{"a":'
bad_line "an unclosed string" '"abc'
bad_line "single quotes" "{'a':1}"
bad_line "NaN" 'NaN'
bad_line "a leading zero" '01'
bad_line "a plus sign" '+1'
bad_line "a comment" '{"a":1} // note'
bad_line "a raw tab in a string" '"a\tb"'
bad_line "a raw control character in a string" '"a\x01b"'
bad_line "a bad escape" '"\\x41"'
bad_line "a lone surrogate escape" '"\\ud800"'
bad_line "a UTF-8 BOM" '\xef\xbb\xbf{"a":1}'
bad_line "invalid UTF-8 (0xff)" '{"a":"\xff"}'
bad_line "invalid UTF-8 (overlong /)" '{"a":"\xc0\xaf"}'
bad_line "invalid UTF-8 (encoded surrogate)" '{"a":"\xed\xa0\x80"}'
bad_line "invalid UTF-8 (lone continuation byte)" '{"a":"\x80"}'
bad_line "invalid UTF-8 (truncated sequence)" '{"a":"\xe4\xb8"}'
bad_line "invalid UTF-8 in a key" '{"\xfe":1}'
bad_line "a NUL byte in a string" '{"a":"x\x00y"}'
bad_line "a NUL byte outside strings" '{"a":1}\x00'
bad_line "a line over --max-record-bytes" '{"a":"0123456789012345678901234567890123456789"}' \
  --max-record-bytes 40
bad_line "a missing key field" '{"n":3}' --key-field k
expect_exit 0 pspf-replay "bad$n" -J
expect_eq 'a|b|d' "$(jq -r .key "$OUT" | paste -sd'|')" "keys before and after a missing key field"
bad_line "a null key field" '{"k":null,"n":3}' --key-field k
bad_line "a key field that is an object" '{"k":{"x":1},"n":3}' --key-field k
bad_line "a key field that is an array" '{"k":[1],"n":3}' --key-field k

# Inputs of -K and -J, whose good lines look different.
bad_other() {  # WHY FILE-CONTENT(printf) FIRST-VALUE OPTIONS...: the bad line is line 2
  local why=$1 content=$2 first=$3
  shift 3
  n=$((n + 1))
  # shellcheck disable=SC2059  # the content is a printf format on purpose
  printf "$content" >"$T/in$n.jsonl"
  expect_exit 65 pspf-produce "bad$n" --partitions 1 -q "$@" "$T/in$n.jsonl"
  expect_contains "$ERR" "pspf-produce: error: $T/in$n.jsonl:2: " "$why: message"
  expect_exit 0 pspf-replay "bad$n"
  expect_eq "$first" "$(cat "$OUT")" "$why: what was appended"
}
bad_other "a missing nested key field" '{"k":{"x":"a"}}\n{"k":{"y":1}}\n{"k":{"x":"c"}}\n' \
  '{"k":{"x":"a"}}' --key-field k.x
bad_other "no key delimiter" 'a|{"n":1}\n{"n":2}\nc|{"n":3}\n' '{"n":1}' -K '|'
bad_other "bad JSON after the key delimiter" 'a|{"n":1}\nb|{"n":2,}\nc|{"n":3}\n' '{"n":1}' -K '|'
bad_other "an envelope without value" '{"value":{"n":1}}\n{"key":"x"}\n{"value":3}\n' '{"n":1}' -J
bad_other "an envelope with a number key" '{"value":{"n":1}}\n{"key":5,"value":1}\n{"value":3}\n' \
  '{"n":1}' -J
bad_other "an envelope with a number header" \
  '{"value":{"n":1}}\n{"headers":{"h":1},"value":1}\n{"value":3}\n' '{"n":1}' -J
bad_other "an envelope that is not an object" '{"value":{"n":1}}\n[1]\n{"value":3}\n' '{"n":1}' -J

# Every topic above is readable and undamaged.
expect_exit 0 pspf-topics verify
expect_eq 0 "$(grep -vc ': ok, ' "$OUT" || true)" "verify of all the topics"

# A key field may be a number or boolean (its JSON text) or hold any string.
expect_exit 0 pspf-produce kinds --key-field k -q --partitions 1 \
  < <(printf '{"k":true}\n{"k":1.50}\n{"k":"x\\u0000y"}\n')
expect_exit 0 pspf-replay kinds -J
expect_eq '"true"|"1.50"|"x\u0000y"' "$(jq -c .key "$OUT" | paste -sd'|')" "keys from scalar fields"
expect_exit 0 pspf-produce nokey --key-field k --allow-missing-key -q --partitions 1 \
  < <(printf '{"n":1}\n{"k":"x","n":2}\n')
expect_exit 0 pspf-replay nokey -J
expect_eq 'null|"x"' "$(jq -c .key "$OUT" | paste -sd'|')" "keys with --allow-missing-key"

# --max-record-bytes: a line of exactly N bytes is accepted, N+1 is not.
printf '"%s"\n' 12345678 >"$T/ten.jsonl"
expect_exit 0 pspf-produce maxok --max-record-bytes 10 -q "$T/ten.jsonl"
printf '"%s"\n' 123456789 >"$T/eleven.jsonl"
expect_exit 65 pspf-produce maxbad --max-record-bytes 10 -q "$T/eleven.jsonl"
expect_contains "$ERR" "$T/eleven.jsonl:1: "

# A line over the limit stops the import as soon as it passes the limit, not at its
# newline: an input without a newline (a binary file given by mistake, /dev/zero)
# fails at once instead of being read to its end, which may never come. (The
# timeout only turns a hang into a failure.)
expect_exit 0 pspf-produce endless --partitions 1 -q <<<'{"before":1}'
expect_exit 65 timeout -s KILL 60 pspf-produce endless --max-record-bytes 1000 -q </dev/zero
expect_contains "$ERR" "pspf-produce: error: stdin:1: line longer than --max-record-bytes (1000)"
expect_exit 0 pspf-replay endless
expect_eq '{"before":1}' "$(cat "$OUT")" "the topic after an endless line"

# With --skip-invalid such a line is skipped through its newline; SIGTERM stops that
# too, though reading a file is never interrupted by a signal. A sparse file of 1 TiB
# stands for the endless input: its read position shows that reading has begun.
truncate -s 1T "$T/zeros"
bg_start pspf-produce endless --skip-invalid --max-record-bytes 1000 "$T/zeros" 2>"$T/zeros.err"
pid=$BG_PID
reading_zeros() {
  local fd
  for fd in /proc/"$pid"/fd/*; do
    [ "$(readlink "$fd")" = "$T/zeros" ] || continue
    [ "$(awk '/^pos:/ {print $2}' /proc/"$pid"/fdinfo/"${fd##*/}")" -gt 0 ] && return 0
  done
  return 1
}
wait_until 20 "pspf-produce to read the long line" reading_zeros
kill -TERM "$pid"
gone() { ! kill -0 "$pid" 2>/dev/null; }
wait_until 20 "pspf-produce to stop after SIGTERM" gone
rc=0
wait "$pid" || rc=$?
expect_eq 143 "$rc" "exit status of an import stopped while skipping a long line"
expect_contains "$T/zeros.err" "stopped by signal 15"
expect_exit 0 pspf-replay endless
expect_eq '{"before":1}' "$(cat "$OUT")" "the topic after a skipped endless line"
rm -f "$T/zeros"

# A signal while a line is only partly read (here "23", the rest of "234" yet to
# come): that part is not taken for a whole last line and appended.
mkfifo "$T/fifo"
exec {fifo_w}<>"$T/fifo"  # held open: the reader waits for more, as on a live pipe
printf '1\n23' >&"$fifo_w"
bg_start pspf-produce halfline --partitions 1 --receipts "$T/fifo" >"$T/half.out" 2>"$T/half.err"
pid=$BG_PID
wait_until 20 "the receipt of line 1 (the import then waits for the rest of line 2)" test -s "$T/half.out"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
exec {fifo_w}>&-
expect_eq 143 "$rc" "exit status of an import stopped inside a line"
expect_exit 0 pspf-replay halfline
expect_eq 1 "$(cat "$OUT")" "the topic after a signal inside line 2"

# Standard input is named "stdin"; line numbers count empty lines too.
expect_exit 65 pspf-produce stdin1 -q --partitions 1 < <(printf '{"a":1}\n\n{"a":2}\n\nnope\n{"a":3}\n')
expect_contains "$ERR" "pspf-produce: error: stdin:5: invalid JSON"
expect_exit 0 pspf-replay stdin1
expect_eq '{"a":1}|{"a":2}' "$(paste -sd'|' "$OUT")" "stdin: lines before the bad one"

# Several files: the error names the file and its own line number; the files before
# it are appended whole.
printf '{"f":1}\n{"f":2}\n' >"$T/a.jsonl"
printf '{"f":3}\n{"f":4,}\n{"f":5}\n' >"$T/b.jsonl"
expect_exit 65 pspf-produce multi --partitions 1 -q "$T/a.jsonl" "$T/b.jsonl" "$T/a.jsonl"
expect_contains "$ERR" "pspf-produce: error: $T/b.jsonl:2: "
expect_exit 0 pspf-replay multi
expect_eq '{"f":1}|{"f":2}|{"f":3}' "$(paste -sd'|' "$OUT")" "several files: what was appended"

# A bad line after many good ones: all the good ones are appended (several batches).
seq 1 30000 | sed 's/.*/{"n":&}/' >"$T/many.jsonl"
echo '{"n":}' >>"$T/many.jsonl"
expect_exit 65 pspf-produce many -q "$T/many.jsonl"
expect_contains "$ERR" "$T/many.jsonl:30001: "
expect_exit 0 pspf-replay many
expect_lines 30000 "$OUT" "good lines before the bad one"
expect_eq 450015000 "$(jq -s 'map(.n) | add' "$OUT")" "the values appended"

# --skip-invalid --reject-file: goes on, counts, and the reject file holds exactly
# the bad lines, byte for byte, in order.
{
  printf '{"s":1}\n'
  printf 'bad one\n'
  printf '{"s":2}\n'
  printf '{"s":3,}\n'
  printf '{"s":"\xff"}\n'
  printf '\n'
  printf '{"s":4}\r\n'
  printf '{"s":"x\x00"}\n'
  printf '{"s":5}'
} >"$T/mixed.jsonl"
printf 'bad one\n{"s":3,}\n{"s":"\xff"}\n{"s":"x\x00"}\n' >"$T/want.rej"
expect_exit 0 pspf-produce skip --partitions 1 --skip-invalid --reject-file "$T/rej" "$T/mixed.jsonl"
expect_contains "$ERR" "appended 4 events"
expect_contains "$ERR" "skipped 4 invalid lines"
expect_exit 0 pspf-replay skip
expect_eq '{"s":1}|{"s":2}|{"s":4}|{"s":5}' "$(paste -sd'|' "$OUT")" "values kept by --skip-invalid"
expect_same_file "$T/want.rej" "$T/rej" "the reject file"
# The reject file is appended to, not replaced.
expect_exit 0 pspf-produce skip --skip-invalid --reject-file "$T/rej" -q <<<'again'
expect_eq 'again' "$(tail -1 "$T/rej")" "reject file appended"
expect_eq 5 "$(line_count "$T/rej")" "reject file lines"
# --reject-file alone is a usage error.
expect_exit 2 pspf-produce skip --reject-file "$T/rej2" <<<'{}'
[ ! -e "$T/rej2" ] || fail "a refused --reject-file was created"

# Empty lines are skipped; CRLF is accepted (also on empty lines); the last line
# needs no newline.
expect_exit 0 pspf-produce crlf --partitions 1 < <(printf '\n{"c":1}\r\n\r\n\n{"c":"a\\r"}\r\n[1,2]\r\n{"c":3}')
expect_contains "$ERR" "appended 4 events"
expect_exit 0 pspf-replay crlf -J
expect_eq '[0,{"c":1}]|[1,{"c":"a\r"}]|[2,[1,2]]|[3,{"c":3}]' \
  "$(jq -c '[.offset,.value]' "$OUT" | paste -sd'|')" "CRLF lines"
# An input of empty lines only appends nothing, creates no topic, and succeeds.
expect_exit 0 pspf-produce empty --partitions 1 -q < <(printf '\n\n\r\n')
expect_exit 1 pspf-replay empty
expect_contains "$ERR" "topic 'empty' does not exist" "a topic fed empty lines only"

# A line over --max-record-bytes goes to the reject file whole, like any bad line
# (checked last: the checks above run even while this fails).
long=$(printf '{"s":"%0200d"}' 0)
printf '{"s":1}\n%s\n{"s":2}\n' "$long" >"$T/long.jsonl"
expect_exit 0 pspf-produce skiplong --partitions 1 --skip-invalid --reject-file "$T/rejlong" \
  --max-record-bytes 100 "$T/long.jsonl"
expect_contains "$ERR" "skipped 1 invalid lines"
expect_exit 0 pspf-replay skiplong
expect_eq '{"s":1}|{"s":2}' "$(paste -sd'|' "$OUT")" "values kept around a long line"
printf '%s\n' "$long" >"$T/want.rejlong"
expect_same_file "$T/want.rejlong" "$T/rejlong" "the reject file holding a line over --max-record-bytes"

# Bad option values are usage errors that change nothing: a partition the topic
# does not have (the missing topic is not created), a negative size.
expect_exit 2 pspf-produce newtopic -p 4 <<<'{}'
expect_contains "$ERR" "has no partition 4"
[ ! -e "$PSPF_DIR/topics/newtopic" ] || fail "a produce that failed with a usage error created its topic"
expect_exit 2 pspf-produce newtopic --max-record-bytes -1 <<<'{}'
[ ! -e "$PSPF_DIR/topics/newtopic" ] || fail "a produce that failed with a usage error created its topic"

# --sync takes one of its words, nothing else (not the numbers behind them).
for bad in bogus 1 "" Batch; do
  expect_exit 2 pspf-produce t --sync "$bad" </dev/null
  expect_eq "pspf-produce: error: --sync: '$bad' is not one of always, batch, none (see pspf-produce --help)" \
    "$(cat "$ERR")" "--sync '$bad'"
done
echo "ok: $n kinds of bad lines"
