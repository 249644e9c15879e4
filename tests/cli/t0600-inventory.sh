#!/usr/bin/env bash
# The inventory example's own checks (examples/inventory/verify.sh): every one of its
# five checks must print PASS.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
command -v setsid >/dev/null || skip "setsid is not installed"

expect_exit 0 bash "$SRC_TOP/examples/inventory/verify.sh"
cat "$OUT"
for n in 1 2 3 4 5; do
  expect_contains "$OUT" "PASS $n:" "check $n"
done
expect_not_contains "$OUT" "FAIL"
