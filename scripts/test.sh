#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, build with
# ASan+UBSan, run every meson suite (unit, sandbox, builder, e2e, cli).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"
builddir=${FARM_TEST_BUILDDIR:-build-test}
if [ ! -d "$builddir" ]; then
  meson setup "$builddir" -Dsanitizers=true
fi
ninja -C "$builddir"
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@"
