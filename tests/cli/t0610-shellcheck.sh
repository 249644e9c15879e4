#!/usr/bin/env bash
# ShellCheck passes on every shell script in examples/ (files ending in .sh, and files
# whose first line names bash or sh), with no finding at any severity.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v shellcheck >/dev/null || skip "shellcheck is not installed"

scripts=()
while IFS= read -r -d '' f; do
  case $f in
  *.sh) scripts+=("$f") ;;
  *) if head -n 1 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then scripts+=("$f"); fi ;;
  esac
done < <(find "$SRC_TOP/examples" -type f -print0 | sort -z)
[ ${#scripts[@]} -ge 3 ] || fail "found only ${#scripts[@]} scripts in examples/"
expect_exit 0 shellcheck -x "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
