#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, then
#  1. build with ASan+UBSan and run every meson suite (unit, sandbox, builder,
#     e2e, pipeline, cli);
#  2. build without sanitizers and run the unit suite again under valgrind
#     (valgrind and ASan cannot share a process).
# Extra arguments go to the first `meson test` (e.g. --suite sandbox).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"
san=${FARM_TEST_BUILDDIR:-build-test}
vg=${FARM_VALGRIND_BUILDDIR:-build-valgrind}
[ -d "$san" ] || meson setup "$san" -Dsanitizers=true
ninja -C "$san"
meson test -C "$san" --print-errorlogs --num-processes 2 "$@"
if [ $# -eq 0 ]; then
  [ -d "$vg" ] || meson setup "$vg"
  ninja -C "$vg"
  meson test -C "$vg" --print-errorlogs --num-processes 2 --suite unit
fi
