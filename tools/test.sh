#!/usr/bin/env bash
# Builds tapegrad and runs the whole test suite (the README's second quick-start command):
#   1. the Release build and every test (unit tests, examples, the training program, docs snippets,
#      the downstream find_package project);
#   2. the API reference build, which fails on any undocumented public symbol;
#   3. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer;
#   4. the public API contract (../shared/contract), when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" python3 doxygen
jobs=$(nproc)
start=$SECONDS
step() { echo; echo "== $* ($((SECONDS - start)) s)"; }

step "Release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release -j"$jobs"
ctest --preset release -j"$jobs"

step "API reference (Doxygen, warnings are errors)"
bash tools/docs/check_api_docs.sh

step "AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer"
cmake --preset asan -DTAPEGRAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build --preset asan -j"$jobs"
# The RSS-based memory tests are left out here: ASan quarantines freed memory by design.
ctest --preset asan -j"$jobs" -E '^Memory\.'

if [ -x ../shared/contract/check.sh ]; then
  step "Public API contract"
  bash ../shared/contract/check.sh
fi
step "done"
