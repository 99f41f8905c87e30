#!/bin/sh
# Builds the libFuzzer targets with clang++ and runs each for N seconds (default 60).
#   fuzz/run.sh [seconds] [build-dir]
# With FUZZ_RUNS=N set, each target instead runs exactly N inputs from a fixed seed (-seed=1), so
# that the test command fuzzes the same inputs on every machine however loaded it is.
# Corpora grow in <build-dir>/corpus/<target>; crashes land in <build-dir>/crashes/<target>.
# With JOBS (default 2) above 1 the three targets run at the same time.
set -eu
SECONDS_PER_TARGET=${1:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${2:-$ROOT/build-fuzz}
JOBS=${JOBS:-2}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DTAPEGRAD_FUZZ=ON -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_TOOLS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF \
  -DTAPEGRAD_BUILD_BENCHMARKS=OFF -DTAPEGRAD_NATIVE=OFF >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target idx_fuzz safetensors_fuzz resume_fuzz

status=0
if [ -n "${FUZZ_RUNS:-}" ]; then
  budget="-runs=$FUZZ_RUNS -seed=1"
  what="$FUZZ_RUNS inputs"
else
  budget="-max_total_time=$SECONDS_PER_TARGET"
  what="${SECONDS_PER_TARGET}s"
fi
# fuzz_one TARGET: runs one target; its exit status goes beside its log.
fuzz_one() {
  corpus="$BUILD/corpus/$1"
  crashes="$BUILD/crashes/$1"
  mkdir -p "$corpus" "$crashes"
  # -rss_limit_mb: a parser that allocated what a hostile header claims would trip this.
  # -malloc_limit_mb: any single allocation above 512 MB is reported as a bug.
  if ASAN_OPTIONS=detect_leaks=1 "$BUILD/fuzz/${1}_fuzz" "$corpus" "$ROOT/fuzz/corpus/$1" \
      -dict="$ROOT/fuzz/$1.dict" $budget -rss_limit_mb=2048 \
      -malloc_limit_mb=512 -max_len=65536 -artifact_prefix="$crashes/" -print_final_stats=1 \
      >"$BUILD/${1}_fuzz.log" 2>&1; then
    echo 0 >"$BUILD/${1}_fuzz.status"
  else
    echo 1 >"$BUILD/${1}_fuzz.status"
  fi
}
# Each target is one process with its own corpus, seed and input count: with more than one job
# they run side by side (the inputs are the same either way), and the reports follow in a fixed
# order.
targets="idx safetensors resume"
for target in $targets; do
  rm -f "$BUILD/${target}_fuzz.status"
  if [ "$JOBS" -gt 1 ]; then fuzz_one "$target" & else fuzz_one "$target"; fi
done
wait
for target in $targets; do
  echo "== ${target}_fuzz for $what"
  if [ "$(cat "$BUILD/${target}_fuzz.status" 2>/dev/null)" = 0 ]; then
    echo "   no crash"
  else
    echo "   FAILED: see $BUILD/${target}_fuzz.log and $BUILD/crashes/$target/"
    status=1
  fi
  grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|^SUMMARY|ERROR:' \
    "$BUILD/${target}_fuzz.log" || true
done
exit $status
