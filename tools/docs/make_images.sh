#!/usr/bin/env bash
# Regenerates every figure in docs/images/ that the docs own, from programs in the repository:
#   tape.png               docs/snippets/tape_to_dot.cpp  -> Graphviz dot
#   activation_*.png       docs/snippets/activations_curves.cpp -> tools/docs/activations.gp
#   optimizers.png         docs/snippets/optimizers_compare.cpp -> tools/docs/optimizers.gp
#   network_222.png        docs/figures/network_222.cpp -> Graphviz neato (fixed positions)
#   im2col.png             docs/figures/im2col.cpp -> Graphviz dot (HTML-like tables)
# (backprop_vs_numeric.png belongs to the benchmarks: benchmarks/run.sh regenerates it.)
# Usage: bash tools/docs/make_images.sh   [env: BUILD_DIR (default build/docs-images), JOBS]
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in cmake gnuplot dot; do
  command -v "$tool" >/dev/null || { echo "make_images.sh: $tool is needed (apt-get install cmake gnuplot graphviz)" >&2; exit 1; }
done
build=${BUILD_DIR:-build/docs-images}
cmake -S tools/docs -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target docs_snippet_tape_to_dot docs_snippet_activations_curves \
  docs_snippet_optimizers_compare docs_snippet_rnn_vanishing docs_figure_network_222 docs_figure_im2col
data="$build/image-data"
mkdir -p "$data" docs/images
"$build/docs/docs_snippet_tape_to_dot" > "$data/tape.dot"
dot -Tpng -Gdpi=96 "$data/tape.dot" -o docs/images/tape.png
"$build/docs/docs_figure_network_222" > "$data/network_222.dot"
dot -Tpng -Gdpi=96 "$data/network_222.dot" -o docs/images/network_222.png
"$build/docs/docs_figure_im2col" > "$data/im2col.dot"
dot -Tpng -Gdpi=96 "$data/im2col.dot" -o docs/images/im2col.png
"$build/docs/docs_snippet_activations_curves" "$data" >/dev/null
gnuplot -e "datafile='$data/activations.dat'; outdir='docs/images'" tools/docs/activations.gp
"$build/docs/docs_snippet_optimizers_compare" "$data" >/dev/null
gnuplot -e "datafile='$data/optimizers.dat'; outdir='docs/images'" tools/docs/optimizers.gp
"$build/docs/docs_snippet_rnn_vanishing" "$data" >/dev/null
gnuplot -e "datafile_mlp='$data/vanishing_mlp.dat'; datafile_rnn='$data/vanishing_rnn.dat'; outdir='docs/images'" \
  tools/docs/vanishing.gp
echo "make_images.sh: wrote docs/images/tape.png, network_222.png, im2col.png, activation_*.png, optimizers.png, vanishing_*.png"
