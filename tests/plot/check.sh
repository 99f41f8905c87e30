#!/usr/bin/env bash
# benchmarks/plot_backprop_vs_numeric.sh on hand-made results: many points per family, one point
# per family, and none. It must write a PNG in the first two cases (no fit line where one point
# cannot give one) and fail in the third without leaving any file behind.
# Exits 77 (skipped) without jq or gnuplot.
set -euo pipefail
script=$1
for tool in jq gnuplot; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed (apt-get install $tool)"; exit 77; }
done
work=$(mktemp -d)
trap "rm -rf $work" EXIT
row() { echo "{\"name\": \"BM_numeric/$1/$2\", \"run_type\": \"iteration\", \"params\": $2, \"ratio\": $3, \"backprop_us\": 1, \"numeric_us\": $3}"; }
json() { local IFS=,; echo "{\"benchmarks\": [$*]}"; }
json "$(row mlp 100 50)" "$(row mlp 1000 480)" "$(row mlp 10000 5200)" "$(row scalar 10 9)" "$(row scalar 100 95)" > "$work/many.json"
json "$(row mlp 1000 480)" "$(row scalar 10 9)" > "$work/one.json"
json > "$work/none.json"
png_ok() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

bash "$script" "$work/many.json" "$work/many.png" > "$work/many.txt"
png_ok "$work/many.png" || { echo "many points: no PNG"; exit 1; }
grep -q "fitted slope (log ratio vs log params): mlp 1.0" "$work/many.txt" || { echo "many points: wrong fit:"; cat "$work/many.txt"; exit 1; }

bash "$script" "$work/one.json" "$work/one.png" > "$work/one.txt"
png_ok "$work/one.png" || { echo "one point per family: no PNG"; exit 1; }
grep -q "mlp has 1 point, no fit" "$work/one.txt" || { echo "one point: no note of the missing fit:"; cat "$work/one.txt"; exit 1; }

if bash "$script" "$work/none.json" "$work/none.png" > "$work/none.txt" 2>&1; then
  echo "no points: the script succeeded"; exit 1
fi
ls "$work" | grep -q "^none.png" && { echo "no points: a file was left: $(ls "$work" | grep none.png)"; exit 1; }
grep -q "nothing to plot" "$work/none.txt" || { echo "no points: unclear message:"; cat "$work/none.txt"; exit 1; }
echo "plot_backprop_vs_numeric.sh: many points, one point and no points all handled"
