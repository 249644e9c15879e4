#!/usr/bin/env bash
# Installs the Debian packages pspf needs (when run as root; otherwise prints the
# apt-get line and exits 2) and builds pspf into build/ (or $PSPF_BUILD), with
# warnings as errors.
# Prints the directory holding the built commands on its last line.
set -u
cd "$(dirname "$0")/.." || exit 2
top=$(pwd)

packages=(meson ninja-build g++ pkg-config libmsgpack-cxx-dev nlohmann-json3-dev
  libfmt-dev doctest-dev libsimdjson-dev libxxhash-dev jq sqlite3 shellcheck clang-format
  time gnuplot-nox libsqlite3-dev redis-server librdkafka-dev kcat)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "pspf: missing Debian packages; as root run: apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "pspf: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >/dev/null || {
    echo "pspf: apt-get install failed" >&2
    exit 2
  }
fi

build=${PSPF_BUILD:-$top/build}
# Warnings are errors (-Dwerror=true) in every build this script makes, CI's
# included; PSPF_WERROR=false turns that off (say, for a compiler newer than the
# ones the code is checked with: g++ 12, clang++ 14).
werror=${PSPF_WERROR:-true}
case $werror in true | false) ;; *) echo "pspf: PSPF_WERROR must be true or false" >&2; exit 2 ;; esac
if [ ! -f "$build/build.ninja" ]; then
  meson setup -Dwerror="$werror" "$build" >/dev/null || { echo "pspf: meson setup failed" >&2; exit 1; }
  (cd tests/cli && ls t[0-9]*.sh 2>/dev/null) >"$build/.cli-tests"
fi
current=$(meson introspect --buildoptions "$build" |
  python3 -c 'import json, sys; print(str([o["value"] for o in json.load(sys.stdin) if o["name"] == "werror"][0]).lower())')
if [ "$current" != "$werror" ]; then
  meson configure -Dwerror="$werror" "$build" >/dev/null || { echo "pspf: meson configure failed" >&2; exit 1; }
fi
# meson lists the CLI tests (tests/cli/t*.sh) when it configures: configure again
# when the set of scripts changed, so that `meson test` runs each of them.
cli_list=$(cd tests/cli && ls t[0-9]*.sh 2>/dev/null)
if [ "$cli_list" != "$(cat "$build/.cli-tests" 2>/dev/null)" ]; then
  meson setup --reconfigure "$build" >/dev/null || { echo "pspf: meson setup failed" >&2; exit 1; }
  printf '%s\n' "$cli_list" >"$build/.cli-tests"
fi
ninja -C "$build" >"$build/ninja.log" 2>&1 || {
  tail -n 60 "$build/ninja.log" >&2
  echo "pspf: build failed (full log: $build/ninja.log)" >&2
  exit 1
}
echo "$build/tools"
