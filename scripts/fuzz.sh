#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] — the libFuzzer targets of tests/fuzz, each run for
# SECONDS (default $FARM_FUZZ_SECONDS, else 60) from the seed corpus and the
# regression inputs. Builds them with clang (-fsanitize=fuzzer,address,undefined)
# in $FARM_FUZZ_BUILDDIR (default build-fuzz), then runs meson's suite 'fuzz'
# there, two targets at a time. Fails on any crash, leak, UB report, timeout
# or out-of-memory; tests/fuzz/run.sh prints and keeps the input. Its results
# are in <builddir>/meson-logs/testlog.json (scripts/test.sh counts them).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
dir=${FARM_FUZZ_BUILDDIR:-build-fuzz}
export FARM_FUZZ_SECONDS=${1:-${FARM_FUZZ_SECONDS:-60}}
[ -d "$dir" ] || CC=clang meson setup "$dir" -Dfuzz=true
# Only the fuzzers and what they link: the rest of the tree is built and
# tested by scripts/test.sh.
mapfile -t targets < <(ninja -C "$dir" -t targets all | sed -n 's|^\(tests/fuzz/fuzz_[a-z0-9_]*\): .*|\1|p')
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets in $dir (configured with -Dfuzz=true?)" >&2; exit 1; }
ninja -C "$dir" "${targets[@]}"
meson test -C "$dir" --suite fuzz --no-rebuild --num-processes 2 --print-errorlogs
