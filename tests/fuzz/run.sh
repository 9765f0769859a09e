#!/usr/bin/env bash
# run.sh FUZZER SEED_DIR... SECONDS — one libFuzzer target for a bounded time
# (FARM_FUZZ_SECONDS overrides SECONDS), new inputs in a temporary corpus that
# is removed afterwards. Fails on a crash, leak, UB report, timeout or OOM; the
# input that did it is printed (base64) and kept under
# $FARM_FUZZ_ARTIFACTS (default /tmp/farm-fuzz-artifacts) to be added to
# tests/fuzz/regress/<target>/.
set -u
fuzzer=$1
shift
secs=${@: -1}
seeds=("${@:1:$#-1}")
secs=${FARM_FUZZ_SECONDS:-$secs}
name=$(basename "$fuzzer")
work=$(mktemp -d /tmp/farm-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
  "$work/corpus" "${seeds[@]}" >"$work/log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
corpus=$(find "$work/corpus" -type f | wc -l)
echo "$name: ${execs:-?} runs in ${secs}s (${rate:-?}/s), $corpus new corpus inputs, exit $rc"
found=$(find "$work/artifacts" -type f | wc -l)
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
  tail -n 80 "$work/log"
  keep=${FARM_FUZZ_ARTIFACTS:-/tmp/farm-fuzz-artifacts}/$name
  mkdir -p "$keep"
  for f in "$work"/artifacts/*; do
    [ -f "$f" ] || continue
    cp "$f" "$keep/"
    echo "input $(basename "$f") (kept in $keep), base64:"
    base64 -w0 "$f"
    echo
  done
  exit 1
fi
exit 0
