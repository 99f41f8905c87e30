#!/usr/bin/env bash
# Builds the benchmarks (Release, build/bench), runs every program at 1 and 2 threads with
# repetitions (medians reported), measures peak RSS of 1,000 training steps per library, the
# library's from-scratch build time on 2 cores and its size, and writes docs/performance.md.
# Usage: benchmarks/run.sh          (REPS=3 by default; QUICK=1 for a short smoke run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/bench
results=$build/results
reps=${REPS:-3}
min_time=${QUICK:+0.05}
min_time=${min_time:-0.5}
steps=${QUICK:+20}
steps=${steps:-1000}
mkdir -p "$results"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_BENCHMARKS=ON \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_TOOLS=OFF > "$results/cmake.log"
cmake --build "$build" -j2 > "$results/build.log"
bin=$build/benchmarks

# Other jobs share the 2 cores: wait (up to WAIT_MINUTES, default 10) for the 1-minute load
# average to fall below MAX_LOAD (default 2.5) before measuring; the load is recorded either way.
deadline=$(( $(date +%s) + 60 * ${WAIT_MINUTES:-10} ))
while [ "$(date +%s)" -lt "$deadline" ] && \
      awk -v max="${MAX_LOAD:-2.5}" '{exit !($1 >= max)}' /proc/loadavg; do sleep 15; done
uptime > "$results/load_before.txt"
for t in 1 2; do
  for prog in op_overhead training_step gemm gemm_openblas; do
    [ -x "$bin/$prog" ] || continue
    echo "== $prog, $t thread(s)"
    "$bin/$prog" --threads="$t" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
      --benchmark_min_time="$min_time" --benchmark_out="$results/${prog}_t$t.json" --benchmark_out_format=json
  done
  for lib in tapegrad libtorch; do
    [ -x "$bin/rss_step_$lib" ] || continue
    echo "== peak RSS, 1,000 steps of (b), $lib, $t thread(s)"
    /usr/bin/time -v "$bin/rss_step_$lib" "$t" "$steps" 2> "$results/rss_${lib}_t$t.txt"
  done
done
echo "== backprop_vs_numeric, 1 thread"
"$bin/backprop_vs_numeric" --threads=1 --benchmark_min_time="$min_time" \
  --benchmark_out="$results/backprop_vs_numeric_t1.json" --benchmark_out_format=json | tee "$results/backprop_vs_numeric_t1.txt"
"$root/benchmarks/plot_backprop_vs_numeric.sh" "$results/backprop_vs_numeric_t1.json" \
  "$root/docs/images/backprop_vs_numeric.png" | tee "$results/fit.txt"
uptime > "$results/load_after.txt"

# The library alone, from scratch, on 2 cores (configure not counted).
scratch=$build/scratch
rm -rf "$scratch"
cmake -S "$root" -B "$scratch" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_TESTS=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_TOOLS=OFF > /dev/null
uptime > "$results/load_build.txt"
/usr/bin/time -f "%e %U %S" -o "$results/build_time.txt" cmake --build "$scratch" -j2 --target tapegrad > /dev/null
stat -L -c %s "$scratch/libtapegrad.so" > "$results/so_bytes.txt"
strip -o "$scratch/stripped.so" "$scratch/libtapegrad.so" && stat -c %s "$scratch/stripped.so" > "$results/so_stripped_bytes.txt"

python3 "$root/benchmarks/performance_report.py" "$results" > "$root/docs/performance.md"
echo "wrote $root/docs/performance.md"
