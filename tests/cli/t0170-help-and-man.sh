#!/usr/bin/env bash
# For every built tool: each long option that --help prints (for pspf-topics, also
# each subcommand's --help) appears in man/<tool>.1, as --name or roff's \-\-name;
# each subcommand is described there; the page has an EXIT STATUS section and
# groff finds nothing to warn about. --version prints "<tool> <version>" and exits
# 0; an unknown option or subcommand exits 2 with "<tool>: error:".
# Tools without a man page yet are skipped; with none at all the test is skipped.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

man_dir=$SRC_TOP/man
checked=0
for exe in "$PSPF_BIN"/pspf-*; do
  if [ ! -f "$exe" ] || [ ! -x "$exe" ]; then continue; fi
  tool=$(basename "$exe")
  page=$man_dir/$tool.1

  # --help, --version and bad options, whether or not the man page exists.
  expect_exit 0 "$tool" --help
  cp "$OUT" "$T/help"
  expect_contains "$T/help" "Usage: $tool" "$tool --help"
  expect_exit 0 "$tool" --version
  grep -qE "^$tool [0-9]+\.[0-9]+(\.[0-9]+)?" "$OUT" || fail "$tool --version printed [$(cat "$OUT")]"
  # (the message may be about another missing argument first: the exit status and
  # the prefix are what a script relies on)
  if grep -q '^Subcommands:' "$T/help"; then rest=(list); else rest=(t); fi
  expect_exit 2 "$tool" --no-such-option "${rest[@]}"
  expect_contains "$ERR" "$tool: error: " "$tool --no-such-option"
  expect_empty "$OUT" "$tool --no-such-option: stdout"

  # pspf-topics: its subcommands and their own options.
  subs=()
  if grep -q '^Subcommands:' "$T/help"; then
    mapfile -t subs < <(sed -n '/^Subcommands:/,/^$/p' "$T/help" | sed -nE 's/^  ([a-z][a-z-]*) .*/\1/p')
    [ "${#subs[@]}" -gt 0 ] || fail "$tool: no subcommands found in --help"
    expect_exit 2 "$tool"
    expect_exit 2 "$tool" no-such-subcommand
    for sub in "${subs[@]}"; do
      expect_exit 0 "$tool" "$sub" --help
      cat "$OUT" >>"$T/help"
      expect_exit 2 "$tool" "$sub" --no-such-option
      expect_contains "$ERR" "$tool: error: " "$tool $sub --no-such-option"
    done
  fi

  if [ ! -f "$page" ]; then
    echo "SKIP: $tool has no man page $page yet"
    continue
  fi
  checked=$((checked + 1))
  # The page with roff's escaped hyphens made plain.
  sed 's/\\-/-/g' "$page" >"$T/page"
  mapfile -t opts < <(grep -oE -- '--[a-z][a-z0-9-]*' "$T/help" | sort -u)
  [ "${#opts[@]}" -ge 3 ] || fail "$tool: only ${#opts[@]} long options found in --help"
  missing=()
  for opt in "${opts[@]}"; do
    grep -qE -- "(^|[^a-z0-9-])$opt([^a-z0-9-]|\$)" "$T/page" || missing+=("$opt")
  done
  [ "${#missing[@]}" -eq 0 ] || fail "$tool: options in --help but not in $page: ${missing[*]}"
  for sub in "${subs[@]}"; do
    grep -qE "^\.(B|BI|BR|TP|IP|SS)[^a-z]*\"?$sub\b" "$T/page" || fail "$tool: subcommand $sub not described in $page"
  done
  grep -q '^\.SH "\?EXIT STATUS' "$page" || fail "$page has no EXIT STATUS section"
  for code in 0 1 2; do
    sed -n '/^\.SH "\?EXIT STATUS/,/^\.SH/p' "$page" | grep -qE "^\.B $code\$|^\.BR? $code " ||
      fail "$page: EXIT STATUS does not list $code"
  done
  if command -v groff >/dev/null; then
    groff -man -ww -z "$page" >"$T/groff" 2>&1 || true
    expect_empty "$T/groff" "groff warnings for $page"
  fi
  echo "ok: $tool: ${#opts[@]} long options, ${#subs[@]} subcommands"
done
[ "$checked" -gt 0 ] || skip "no tool has a man page yet"
echo "ok: $checked man pages"
