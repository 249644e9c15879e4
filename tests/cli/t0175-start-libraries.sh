#!/usr/bin/env bash
# A script starts one pspf tool per step, so every shared library a tool needs is
# mapped and relocated again at each step. Built with the static runtime (the
# default, meson_options.txt static_runtime: libstdc++ is then inside each tool), a
# tool must load libc alone (and ld.so, which glibc's TLS calls name): no libstdc++,
# libm, libfmt, libxxhash, nor librdkafka, which only -b opens, with dlopen.
# Nor may a tool carry libstdc++'s iostream or locale set-up, which a static
# libstdc++ runs at every start when anything links it in (<iostream>, std::locale,
# std::filesystem; tests/bench/README.md, start-up): a dozen page faults a start.
# A build without the static runtime (libstdc++ among the needs) is skipped.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"

command -v readelf >/dev/null || skip "readelf (binutils) is not installed"
checked=0
for exe in "$PSPF_BIN"/pspf-*; do
  if [ ! -f "$exe" ] || [ ! -x "$exe" ]; then continue; fi
  tool=$(basename "$exe")
  readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' >"$T/needed"
  [ -s "$T/needed" ] || fail "$tool: readelf found no needed library (not a dynamic executable?)"
  if grep -q '^libstdc++' "$T/needed"; then
    echo "$tool: built without the static runtime, not checked"
    continue
  fi
  extra=$(grep -v -e '^libc\.so\.' -e '^ld-linux' "$T/needed" | tr '\n' ' ' || true)
  [ -z "$extra" ] || fail "$tool loads more than libc at each start: $extra"
  grep -q '^libc\.so\.' "$T/needed" || fail "$tool: libc is not among its needs: $(cat "$T/needed")"
  if command -v nm >/dev/null; then
    nm "$exe" >"$T/symbols" || fail "$tool: nm cannot read it"
    [ -s "$T/symbols" ] || fail "$tool: nm found no symbols (stripped?)"
    # std::ios_base::Init::Init() and std::locale::locale(): the set-up's entry points.
    set_up=$(grep -E ' _ZNSt8ios_base4InitC[12]Ev$| _ZNSt6localeC[12]Ev$' "$T/symbols" | tr '\n' ' ' || true)
    [ -z "$set_up" ] || fail "$tool carries libstdc++'s iostream or locale set-up: $set_up"
  fi
  checked=$((checked + 1))
done
[ "$checked" -gt 0 ] || skip "no tool built with the static runtime"
echo "ok: $checked tools load libc alone, without iostream or locale set-up"
