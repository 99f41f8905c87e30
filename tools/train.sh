#!/usr/bin/env bash
# Builds tapegrad and trains the classic 784-50-10 network on Fashion-MNIST (the README's first
# quick-start command). Installs what is missing (Debian packages), builds build/release, then
# runs tapegrad-train; extra arguments go to it, e.g.
#   bash tools/train.sh --hidden 256,128 --optimizer adam --epochs 20
# Outputs go to ./out/fashion-mnist (relative to where you run this) unless --out says otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
ensure_packages "${BUILD_PACKAGES[@]}" dataset-fashion-mnist gnuplot-nox
cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" -j"$(nproc)" --target tapegrad-train
# The program ends by printing the final test accuracy and where the checkpoint, CSV and PNG are.
exec "$root/build/release/tools/tapegrad-train" "$@"
