#!/usr/bin/env bash
# Builds the benchmarks (Release, build/bench), runs every program at 1 and 2 threads with
# repetitions (medians reported), measures peak RSS of 1,000 training steps per library (tapegrad's
# eager and compiled), the library's from-scratch build time on 2 cores and its size, and writes
# the report.
#
# Usage: benchmarks/run.sh [--only NAME[,NAME...]] [--out DIR]
#   --only NAME  run only these: op_overhead, training_step, cnn_step, rnn_step, rnn_vendor, gemm, gemm_openblas,
#                gemm_backends, conv_backends, rss, backprop_vs_numeric, train, dist, build (repeatable, or
#                comma-separated); only their programs are built
#   --out DIR    write the results, the report (DIR/performance.md) and the plot
#                (DIR/backprop_vs_numeric.png) to DIR
# Only a full run (no --only, no --out, no QUICK) writes the tracked docs/performance.md,
# docs/images/backprop_vs_numeric.png and the README's performance block; any other run writes
# to --out DIR, by default build/bench/partial, and never over them.
# Environment: REPS (repetitions, default 3); QUICK=1 for a smoke run (0.05 s per benchmark
# instead of 0.5, 20 RSS steps instead of 1,000: the figures are not measurements);
# WAIT_MINUTES and MAX_LOAD (wait for the machine to quieten first; the wait is printed);
# TG_BENCH_BLAS_DIR (the directory whose libblas.so.3 libtorch loads, default OpenBLAS's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/bench
all="op_overhead training_step cnn_step rnn_step rnn_vendor gemm gemm_openblas gemm_backends conv_backends rss backprop_vs_numeric train dist build"
only="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || { echo "run.sh: --only needs a name ($all)" >&2; exit 2; }
            only="$only ${2//,/ }"; shift 2 ;;
    --out) [ $# -ge 2 ] || { echo "run.sh: --out needs a directory" >&2; exit 2; }
           out=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for name in $only; do
  case " $all " in *" $name "*) ;; *) echo "run.sh: --only $name: expected one of: $all" >&2; exit 2 ;; esac
done
selected=${only:-$all}
wants() { case " $selected " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
full=""
[ -z "$only" ] && [ -z "$out" ] && [ -z "${QUICK:-}" ] && full=1
if [ -n "$full" ]; then
  results=$build/results report=$root/docs/performance.md plot=$root/docs/images/backprop_vs_numeric.png
else
  out=$(realpath -m "${out:-$build/partial}")
  case "$out/" in "$root/docs/"*) echo "run.sh: --out $out is inside docs/: only a full run writes there" >&2; exit 2 ;; esac
  mkdir -p "$out"
  results=$out report=$out/performance.md plot=$out/backprop_vs_numeric.png
fi
reps=${REPS:-3}
min_time=${QUICK:+0.05}
min_time=${min_time:-0.5}
steps=${QUICK:+20}
steps=${steps:-1000}
mkdir -p "$results"

# What the benchmarks need: libtorch and ADOL-C to compare with, OpenBLAS for libtorch and
# gemm_openblas, gnuplot and jq for the plot, the data set of the training runs. Installed only
# when missing.
source "$root/tools/deps.sh"
packages=("${BUILD_PACKAGES[@]}" libtorch-dev libadolc-dev libdnnl-dev libopenblas-dev gnuplot-nox jq time)
{ wants train || wants dist; } && [ -z "${QUICK:-}" ] && packages+=(dataset-fashion-mnist)
ensure_packages "${packages[@]}"

# libtorch calls BLAS through libblas.so.3. Debian's alternatives may point that at the reference
# BLAS (Netlib's Fortran: libtorch's MLP steps 17-25x slower than on OpenBLAS), so the benchmark processes load
# OpenBLAS's libblas.so.3 by LD_LIBRARY_PATH, whatever the system's choice; each program then
# records the BLAS it actually resolved (benchmarks/loaded_blas.h) and the report refuses libtorch
# ratios measured on anything else.
arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
blas_dir=${TG_BENCH_BLAS_DIR:-}
if [ -z "$blas_dir" ]; then
  for d in /usr/lib/$arch/openblas-pthread /usr/lib/$arch/openblas-openmp; do
    [ -e "$d/libblas.so.3" ] && { blas_dir=$d; break; }
  done
fi
if [ -n "$blas_dir" ]; then
  [ -e "$blas_dir/libblas.so.3" ] || { echo "run.sh: TG_BENCH_BLAS_DIR=$blas_dir has no libblas.so.3" >&2; exit 2; }
  echo "== libtorch's BLAS: $blas_dir/libblas.so.3 (LD_LIBRARY_PATH of the benchmark processes)"
else
  echo "== libtorch's BLAS: no OpenBLAS found; libtorch ratios will be refused by the report" >&2
fi
# OpenBLAS picks its kernels by the processor's model, and a virtual machine that hides the model
# (an Intel Xeon seen as "Intel(R) Xeon(R) Processor") got its generic Prescott (SSE3) kernels:
# libtorch's 784-512-512-10 step 27.7 ms instead of 7.2 with the AVX-512 ones. The kernels for the instruction sets
# the processor reports are what a user's OpenBLAS runs on a machine it recognises, so the
# benchmark processes name them, unless OPENBLAS_CORETYPE is set already; the report shows the
# core OpenBLAS ran.
coretype=${OPENBLAS_CORETYPE:-}
if [ -z "$coretype" ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  case " $flags " in
    *" avx512_bf16 "*) coretype=Cooperlake ;;
    *" avx512f "*) coretype=SkylakeX ;;
    *" avx2 "*) coretype=Haswell ;;
  esac
fi
bench_env=(env ${blas_dir:+LD_LIBRARY_PATH=$blas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}
           ${coretype:+OPENBLAS_CORETYPE=$coretype})
[ -n "$coretype" ] && echo "== OpenBLAS kernels: OPENBLAS_CORETYPE=$coretype"

# Only the programs the selected benchmarks run (the library's scratch build is its own).
targets=()
for name in $selected; do
  case $name in
    rss) targets+=(rss_step_tapegrad rss_step_libtorch) ;;
    train) targets+=(tapegrad-train) ;;
    dist) targets+=(data_parallel tapegrad-train) ;;
    build) ;;
    *) targets+=("$name") ;;
  esac
done
echo "== configuring and building ${targets[*]:-nothing} in $build (logs in $results)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_BENCHMARKS=ON \
  -DTAPEGRAD_BUILD_TOOLS=ON > "$results/cmake.log"
# A program whose dependency is missing (libtorch, OpenBLAS) has no target: skip it, say so below.
if [ -f "$build/build.ninja" ]; then known=$(ninja -C "$build" -t targets all | sed 's/:.*//')
else known=$(cmake --build "$build" --target help | awk '{print $2}'); fi
build_targets=()
for t in "${targets[@]}"; do grep -qx "$t" <<< "$known" && build_targets+=("$t"); done
[ ${#build_targets[@]} -eq 0 ] || cmake --build "$build" -j2 --target "${build_targets[@]}" > "$results/build.log"
bin=$build/benchmarks

# Other jobs share the 2 cores: wait (up to WAIT_MINUTES, default 10) for the 1-minute load
# average to fall below MAX_LOAD (default 2.5) before measuring; the load is recorded either way.
max_load=${MAX_LOAD:-2.5} wait_minutes=${WAIT_MINUTES:-10}
start=$(date +%s)
deadline=$(( start + 60 * wait_minutes ))
load1() { cut -d' ' -f1 /proc/loadavg; }
while awk -v max="$max_load" '{exit !($1 >= max)}' /proc/loadavg; do
  now=$(date +%s)
  if [ "$now" -ge "$deadline" ]; then
    echo "== load average still $(load1) >= MAX_LOAD $max_load after $wait_minutes min (WAIT_MINUTES): measuring anyway; the report records the load"
    break
  fi
  echo "== waiting for the machine to quieten: 1-minute load average $(load1), measuring below MAX_LOAD $max_load;" \
       "waited $(( now - start )) s of at most $(( 60 * wait_minutes )) s (WAIT_MINUTES=$wait_minutes)"
  sleep 15
done
echo "== measuring: load average $(load1) after $(( $(date +%s) - start )) s of waiting"
uptime > "$results/load_before.txt"
# The tree measured, recorded now: the report runs after the plot (a tracked file) is rewritten.
{ git -C "$root" rev-parse --short HEAD
  git -C "$root" status --porcelain --untracked-files=no | grep -q . && echo dirty || echo clean; } > "$results/tree.txt"
for t in 1 2; do
  for prog in op_overhead training_step cnn_step rnn_step rnn_vendor gemm gemm_openblas gemm_backends conv_backends; do
    wants "$prog" || continue
    # gemm_backends and conv_backends are one-thread comparisons by definition (they refuse --threads=2).
    case $prog in gemm_backends|conv_backends) [ "$t" != 1 ] && continue ;; esac
    [ -x "$bin/$prog" ] || { echo "== $prog: not built (missing dependency), skipped"; continue; }
    echo "== $prog, $t thread(s)"
    "${bench_env[@]}" "$bin/$prog" --threads="$t" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
      --benchmark_min_time="$min_time" --benchmark_out="$results/${prog}_t$t.json" --benchmark_out_format=json
  done
  wants rss || continue
  # tapegrad_compiled: the same program with the step compiled (tg::compile_step), against the eager peak.
  for run in tapegrad tapegrad_compiled libtorch; do
    lib=${run%_compiled} mode=""
    [ "$run" = "$lib" ] || mode=compiled
    [ -x "$bin/rss_step_$lib" ] || continue
    echo "== peak RSS, $steps steps of (b), $lib${mode:+, compiled step}, $t thread(s)"
    "${bench_env[@]}" /usr/bin/time -v "$bin/rss_step_$lib" "$t" "$steps" $mode 2> "$results/rss_${run}_t$t.txt"
  done
done
if wants backprop_vs_numeric; then
  echo "== backprop_vs_numeric, 1 thread"
  "$bin/backprop_vs_numeric" --threads=1 --benchmark_min_time="$min_time" \
    --benchmark_out="$results/backprop_vs_numeric_t1.json" --benchmark_out_format=json | tee "$results/backprop_vs_numeric_t1.txt"
  "$root/benchmarks/plot_backprop_vs_numeric.sh" "$results/backprop_vs_numeric_t1.json" "$plot" | tee "$results/fit.txt"
fi
if wants train; then
  # The main job: the default run of the training program on Debian's Fashion-MNIST, as
  # tools/train.sh runs it after the build (10 epochs, plot included), compiled and eager.
  fmnist=/usr/share/datasets/fashion-mnist
  if [ -d "$fmnist" ] && [ -z "${QUICK:-}" ]; then
    for mode in compiled eager; do
      echo "== tapegrad-train, $mode step"
      flag=""; [ "$mode" = eager ] && flag=--no-compile
      rm -rf "$results/train_$mode"
      /usr/bin/time -f "%e" -o "$results/train_${mode}_wall.txt" \
        "$build/tools/tapegrad-train" --out "$results/train_$mode" $flag > "$results/train_$mode.log" 2>&1
    done
    # bfloat16 autocast against float32, by final test accuracy: the main job, and the CNN in both
    # precisions (on both threads, so that its 10 epochs take minutes; the accuracy does not
    # depend on the thread count's last bits beyond noise).
    for run in "bf16:--precision bf16" "cnn:--model cnn --threads 2" "cnn_bf16:--model cnn --threads 2 --precision bf16"; do
      name=${run%%:*}
      echo "== tapegrad-train ${run#*:}"
      rm -rf "$results/train_$name"
      # shellcheck disable=SC2086  # the flags are words
      /usr/bin/time -f "%e" -o "$results/train_${name}_wall.txt" \
        "$build/tools/tapegrad-train" --out "$results/train_$name" --no-plot ${run#*:} > "$results/train_$name.log" 2>&1
    done
  elif [ -n "${QUICK:-}" ]; then
    echo "== tapegrad-train: skipped in a QUICK run"
  else
    echo "== tapegrad-train: skipped (no $fmnist: apt-get install dataset-fashion-mnist)"
  fi
fi
if wants dist; then
  # Data-parallel training, one thread per rank: the allreduce curve and the steps under
  # mpirun -np 1 and 2, then the training program itself at 1 and 2 ranks, alternating, 5 runs
  # each (the report takes the medians: other load on the machine moves single runs by 20%).
  mpirun=$(command -v mpirun || true)
  if [ -z "$mpirun" ] || [ ! -x "$bin/data_parallel" ]; then
    echo "== data_parallel: skipped (no mpirun: apt-get install openmpi-bin libopenmpi-dev)"
  else
    for np in 1 2; do
      echo "== data_parallel, $np rank(s), 1 thread each"
      TG_BENCH_QUICK=${QUICK:-} "$mpirun" --allow-run-as-root --oversubscribe -x TG_BENCH_QUICK -np "$np" \
        "$bin/data_parallel" --threads=1 --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
        --benchmark_out="$results/data_parallel_np$np.json" --benchmark_out_format=json
    done
    fmnist=/usr/share/datasets/fashion-mnist
    if [ -d "$fmnist" ] && [ -z "${QUICK:-}" ]; then
      flags="--hidden 512,512 --batch-size 256 --epochs 1 --test-limit 1000 --no-plot --threads 1"
      for k in 1 2 3 4 5; do
        echo "== tapegrad-train 784-512-512-10, batch 256 per rank: 1 and 2 ranks, run $k of 5"
        "$build/tools/tapegrad-train" $flags --out "$results/train_dist" > "$results/train_dist_np1_$k.log" 2>&1
        "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$build/tools/tapegrad-train" $flags \
          --out "$results/train_dist" > "$results/train_dist_np2_$k.log" 2>&1
      done
    fi
  fi
fi
uptime > "$results/load_after.txt"

if wants build; then
  # The library alone, from scratch, on 2 cores (configure not counted).
  scratch=$build/scratch
  rm -rf "$scratch"
  cmake -S "$root" -B "$scratch" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_TESTS=OFF \
    -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_TOOLS=OFF > /dev/null
  uptime > "$results/load_build.txt"
  /usr/bin/time -f "%e %U %S" -o "$results/build_time.txt" cmake --build "$scratch" -j2 --target tapegrad > /dev/null
  stat -L -c %s "$scratch/libtapegrad.so" > "$results/so_bytes.txt"
  strip -o "$scratch/stripped.so" "$scratch/libtapegrad.so" && stat -c %s "$scratch/stripped.so" > "$results/so_stripped_bytes.txt"
fi

# Written to a temporary beside the report and renamed, so that a failed run leaves the old one.
${coretype:+env OPENBLAS_CORETYPE=$coretype} python3 "$root/benchmarks/performance_report.py" "$results" > "$report.tmp"
mv "$report.tmp" "$report"
if [ -n "$full" ]; then
  python3 "$root/tools/docs/sync_snippets.py" >/dev/null  # the measurement-state line of the new page
  python3 "$root/benchmarks/readme_summary.py"  # the README's table: the new page's summary
fi
echo "wrote $report${only:+ (a partial report: only$only)}"
