#!/usr/bin/env bash
# Instructions per iteration of the hot-path workloads, counted by callgrind: steady across
# machines' load, so a change to a hot path is compared by these figures before and after.
#   bash benchmarks/instruction_counts.sh BUILD_DIR [WORKLOAD...]
# BUILD_DIR is configured here for this purpose (a build directory of its own: Release, benchmarks
# on, -DTAPEGRAD_NATIVE=OFF because valgrind 3.19 cannot run AVX-512 code; the counts are for
# comparing two commits, not for absolute speed). Prints one line per workload: name,
# instructions per iteration.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
ensure_packages valgrind
build=${1:?usage: instruction_counts.sh BUILD_DIR [WORKLOAD...]}
shift
CMAKE_CXX_COMPILER_LAUNCHER=$(command -v ccache || true) cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DTAPEGRAD_NATIVE=OFF -DTAPEGRAD_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target instruction_counts -j"$(nproc)" >/dev/null
program=$(find "$build" -name instruction_counts -type f -executable | head -n 1)
[ $# -gt 0 ] || set -- chain chain_compiled step_2_2_2_sigmoid_b1 step_784_50_10_b100 step_784_512_512_10_b256 \
  compiled_step_2_2_2_sigmoid_b1 compiled_step_784_50_10_b100
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for w in "$@"; do
  case $w in
    step_784_512_512_10_b256) n=2 ;;
    step_784_50_10_b100 | compiled_step_784_50_10_b100) n=10 ;;
    *) n=50 ;;
  esac
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/$w.cg" \
    "$program" "$w" "$n" >/dev/null 2>"$out/$w.log" || { cat "$out/$w.log"; exit 1; }
  awk -v w="$w" -v n="$n" '/^totals:/ {printf "%-26s %14.0f instructions per iteration\n", w, $2 / n; exit}' "$out/$w.cg"
done
