#!/usr/bin/env bash
# Every C and C++ file of the tree is formatted as .clang-format says.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v clang-format >/dev/null || skip "clang-format is not installed"
cd "$SRC_TOP"
bad=()
n=0
while IFS= read -r f; do
  n=$((n + 1))
  clang-format --style=file --dry-run -Werror "$f" 2>/dev/null || bad+=("$f")
done < <(find lib tools tests/unit tests/cli tests/bench tests/kafka \( -name '*.cpp' -o -name '*.h' -o -name '*.c' \) | sort)
[ "$n" -gt 50 ] || fail "found only $n C and C++ files: wrong tree?"
[ ${#bad[@]} -eq 0 ] || fail "not formatted (clang-format --style=file -i FILE): ${bad[*]}"
echo "ok: $n files formatted"
