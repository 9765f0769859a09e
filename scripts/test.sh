#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing (debian-packages.txt
# and the "ci" languages of debian-languages.txt), then
#  1. build with ASan+UBSan and run every meson suite (unit, sandbox, builder,
#     e2e, pipeline, languages, cli);
#  2. build without sanitizers and run the unit suite again under valgrind
#     (valgrind and ASan cannot share a process);
#  3. build the libFuzzer targets with clang and run each for a bounded time
#     (scripts/fuzz.sh; FARM_FUZZ_SECONDS, default 30 here).
# FARM_TEST_MESON_ARGS: more arguments for the first `meson test` that keep
# steps 2 and 3 (tests/freshroot/run.sh leaves out suite pg-e2e with it).
# Ends with one line "tests: N passed, N failed" over all runs.
# Extra arguments go to the first `meson test` (e.g. --suite sandbox) and skip steps 2 and 3.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"
# The languages debian-languages.txt marks "ci": suite `languages` requires them.
"$top/scripts/install-languages.sh" ci
san=${FARM_TEST_BUILDDIR:-build-test}
vg=${FARM_VALGRIND_BUILDDIR:-build-valgrind}
[ -d "$san" ] || meson setup "$san" -Dsanitizers=true
ninja -C "$san"
rc=0
# One throwaway PostgreSQL for every -pg test of the run (each makes its own databases).
python3 "$top/tests/lib/pgserver.py" serve -- \
  meson test -C "$san" --print-errorlogs --num-processes 2 ${FARM_TEST_MESON_ARGS:-} "$@" || rc=1
logs=("$san/meson-logs/testlog.json")
if [ $# -eq 0 ]; then
  [ -d "$vg" ] || meson setup "$vg"
  ninja -C "$vg"
  meson test -C "$vg" --print-errorlogs --num-processes 2 --suite unit || rc=1
  logs+=("$vg/meson-logs/testlog.json")
  fz=${FARM_FUZZ_BUILDDIR:-build-fuzz}
  rm -f "$fz/meson-logs/testlog.json"
  FARM_FUZZ_BUILDDIR=$fz FARM_FUZZ_SECONDS=${FARM_FUZZ_SECONDS:-30} "$top/scripts/fuzz.sh" || rc=1
  if [ -f "$fz/meson-logs/testlog.json" ]; then
    logs+=("$fz/meson-logs/testlog.json")
  else # the fuzzers did not build: one failure in the count
    mkdir -p "$fz/meson-logs"
    echo '{"name": "fuzz-build", "result": "FAIL"}' >"$fz/meson-logs/testlog.json"
    logs+=("$fz/meson-logs/testlog.json")
    rc=1
  fi
fi
python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
print("tests: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
PY
exit $rc
