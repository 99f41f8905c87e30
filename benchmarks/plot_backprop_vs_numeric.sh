#!/usr/bin/env bash
# Plots backprop_vs_numeric's JSON output (--benchmark_out) as a PNG: the numeric/backprop time
# ratio against the parameter count, log-log, with a fitted power law per family.
# Usage: plot_backprop_vs_numeric.sh results.json [out.png]   (needs jq and gnuplot)
set -euo pipefail
json=$1
out=${2:-$(dirname "$0")/../docs/images/backprop_vs_numeric.png}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for fam in mlp scalar; do
  # Per-iteration rows, or the median aggregate when run with repetitions.
  jq -r --arg f "$fam" '.benchmarks[]
      | select((.name | startswith("BM_numeric/" + $f + "/")) and ((.aggregate_name // "median") == "median"))
      | "\(.params) \(.ratio) \(.backprop_us) \(.numeric_us)"' "$json" | sort -g > "$tmp/$fam.dat"
done
# Least squares on log-log: log(ratio) = a + b log(params); prints "a b".
fit() { awk '{x=log($1); y=log($2); n++; sx+=x; sy+=y; sxx+=x*x; sxy+=x*y}
  END {b=(n*sxy-sx*sy)/(n*sxx-sx*sx); printf "%.6g %.6g\n", (sy-b*sx)/n, b}' "$1"; }
read -r am bm < <(fit "$tmp/mlp.dat")
read -r as bs < <(fit "$tmp/scalar.dat")
echo "fitted slope (log ratio vs log params): mlp $bm, scalar $bs"
gnuplot <<GP
set terminal pngcairo size 900,600 font ",11"
set output "$out"
set logscale xy
set format y "10^{%T}"
set format x "10^{%T}"
set grid
set key top left
set xlabel "parameters (gradient length)"
set ylabel "time(central differences) / time(backprop)"
set title "One full gradient: central differences vs backprop (tapegrad, float64)"
fm(x) = exp($am) * x**$bm
fs(x) = exp($as) * x**$bs
plot "$tmp/mlp.dat" using 1:2 with points pt 7 ps 1.5 title "784-H-10 sigmoid MLP, batch 10", \
     fm(x) with lines dt 2 title sprintf("fit: %.2g p^{%.2f}", exp($am), $bm), \
     "$tmp/scalar.dat" using 1:2 with points pt 5 ps 1.5 title "scalar f(x), N inputs", \
     fs(x) with lines dt 2 title sprintf("fit: %.2g p^{%.2f}", exp($as), $bs)
GP
echo "wrote $out"
