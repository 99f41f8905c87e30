#!/usr/bin/env bash
# Builds tapegrad and runs the whole test suite (the README's second quick-start command):
#   1. the Release build and every test (unit tests, examples, the training program, docs snippets,
#      the downstream find_package project);
#   2. the API reference build, which fails on any undocumented public symbol;
#   3. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer
#      (the asan preset builds at -O1 -g: the instrumentation, not the optimizer, finds the bugs,
#      and -O2 made this the slowest build of the command);
#   4. the libFuzzer targets (IDX, safetensors, the training program's --resume path), each for a
#      fixed number of inputs from a fixed seed, so that every run fuzzes the same inputs;
#   5. the public API contract (../shared/contract), when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" python3 doxygen ccache
jobs=$(nproc)
# One compiler cache for the run, inside this clone's build/ (a fresh clone starts cold, so CI's
# time is honest). Within a run it shares one build: the contract's library build (configured by
# ../shared/contract/check.sh in a temporary directory, which CMake hands the launcher through the
# environment) compiles the same files with the Release build's flags, and comes from the cache.
# No base_dir: the absolute source paths are what both builds share, their build directories are
# not. -Werror is left out of the hash: it is the one flag the contract's build lacks, and a
# compile that warned under it failed and was never cached. Depend mode: a miss costs no extra
# preprocessor run.
export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_DIR="$PWD/build/ccache" CCACHE_BASEDIR= \
  CCACHE_IGNOREOPTIONS=-Werror CCACHE_DEPEND=1
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

# FUZZ_RUNS inputs per target (not seconds: the same inputs on a loaded machine as on an idle one).
fuzz_runs=${FUZZ_RUNS:-100000}
step "Fuzzing: $fuzz_runs inputs per target, seed 1"
ensure_packages clang libclang-rt-dev
rm -rf build/fuzz/corpus build/fuzz/crashes  # start from the seeds in fuzz/corpus every time
FUZZ_RUNS=$fuzz_runs JOBS=$jobs sh fuzz/run.sh 0 "$PWD/build/fuzz"

if [ -x ../shared/contract/check.sh ]; then
  step "Public API contract"
  ccache -z >/dev/null
  bash ../shared/contract/check.sh
  # The hits are the library's objects; the misses, CMake's compiler checks and the contract's programs.
  ccache --print-stats | awk '$1 == "direct_cache_hit" { hit = $2 } $1 == "cache_miss" { miss = $2 }
    END { printf "contract: %d of %d compiles came from the Release build (ccache)\n", hit, hit + miss }'
fi
step "done"
