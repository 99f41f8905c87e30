#!/usr/bin/env bash
# Plots backprop_vs_numeric's JSON output (--benchmark_out) as a PNG: the numeric/backprop time
# ratio against the parameter count, log-log, with a fitted power law per family drawn over the
# range of that family's own points. A family with one point gets no fit line; with no points at
# all the script fails and writes nothing. The PNG is written beside its destination and renamed,
# so a failure never leaves an empty or half-written file.
# Usage: plot_backprop_vs_numeric.sh results.json [out.png]   (needs jq and gnuplot)
set -euo pipefail
json=$1
out=${2:-$(dirname "$0")/../docs/images/backprop_vs_numeric.png}
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -f "$out.tmp.png"' EXIT
declare -A title=([mlp]="784-H-10 sigmoid MLP, batch 10" [scalar]="scalar f(x), N inputs")
declare -A point=([mlp]=7 [scalar]=5)
plots=()
for fam in mlp scalar; do
  # Per-iteration rows, or the median aggregate when run with repetitions.
  jq -r --arg f "$fam" '.benchmarks[]
      | select((.name | startswith("BM_numeric/" + $f + "/")) and ((.aggregate_name // "median") == "median"))
      | "\(.params) \(.ratio) \(.backprop_us) \(.numeric_us)"' "$json" | sort -g > "$tmp/$fam.dat"
  n=$(wc -l < "$tmp/$fam.dat")
  [ "$n" -gt 0 ] || continue
  plots+=("\"$tmp/$fam.dat\" using 1:2 with points pt ${point[$fam]} ps 1.5 title \"${title[$fam]}\"")
  if [ "$n" -lt 2 ]; then
    echo "fitted slope (log ratio vs log params): $fam has 1 point, no fit"
    continue
  fi
  # Least squares on log-log: log(ratio) = a + b log(params).
  read -r a b < <(awk '{x=log($1); y=log($2); n++; sx+=x; sy+=y; sxx+=x*x; sxy+=x*y}
    END {d=n*sxx-sx*sx; if (d == 0) {print "nan nan"; exit} b=(n*sxy-sx*sy)/d; printf "%.6g %.6g\n", (sy-b*sx)/n, b}' \
    "$tmp/$fam.dat")
  if [ "$a" = nan ]; then
    echo "fitted slope (log ratio vs log params): $fam has one parameter count only, no fit"
    continue
  fi
  echo "fitted slope (log ratio vs log params): $fam $b"
  # The fit evaluated at the family's own parameter counts: the line spans its data and no further.
  plots+=("\"$tmp/$fam.dat\" using 1:(exp($a) * \$1**$b) with lines dt 2 title sprintf(\"fit: %.2g p^{%.2f}\", exp($a), $b)")
done
if [ ${#plots[@]} -eq 0 ]; then
  echo "plot_backprop_vs_numeric.sh: no BM_numeric rows in $json: nothing to plot" >&2
  exit 1
fi
joined=$(printf '%s, \\\n     ' "${plots[@]}")
joined=${joined%, \\$'\n'     }
gnuplot <<GP
set terminal pngcairo size 900,600 font ",11"
set output "$out.tmp.png"
set logscale xy
set format y "10^{%T}"
set format x "10^{%T}"
set grid
set key top left
set xlabel "parameters (gradient length)"
set ylabel "time(central differences) / time(backprop)"
set title "One full gradient: central differences vs backprop (tapegrad, float64)"
plot $joined
GP
mv "$out.tmp.png" "$out"
echo "wrote $out"
