#pragma once
// The one main() of the Google Benchmark programs: --threads, Google Benchmark's own flags, the
// context the reports read ("threads"; with libtorch, its thread pinning and which BLAS it calls),
// the run. A program passes only what it adds, so a fix to the sequence reaches every program.
#include <benchmark/benchmark.h>

#include <functional>
#include <string>

#include "models.h"

#ifdef TAPEGRAD_BENCH_TORCH
#include <torch/torch.h>

#include "loaded_blas.h"
#endif

namespace bench {

/// What one program adds to the shared sequence; each hook is optional.
struct MainOptions {
  /// With --threads taken and applied, before Google Benchmark reads its flags: register
  /// benchmarks, measure a peak, set another library's thread count.
  std::function<void(int threads)> before_initialize;
  /// With the flags read and "threads" recorded, before the run: more context, registrations
  /// that need the flags or the MPI world.
  std::function<void(int threads)> after_initialize;
  /// After the run, before Shutdown: summaries computed from the results.
  std::function<void()> after_run;
  /// Where results are displayed; null means Google Benchmark's console display.
  benchmark::BenchmarkReporter* display = nullptr;
};

/// The body of every benchmark program's main(). Returns main's exit code.
inline int run_main(int argc, char** argv, const MainOptions& o = {}) {
  const int threads = take_threads_flag(argc, argv);
  tg::set_num_threads(threads);
#ifdef TAPEGRAD_BENCH_TORCH
  torch::set_num_threads(threads);
#endif
  if (o.before_initialize) o.before_initialize(threads);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("threads", std::to_string(threads));
  if (o.after_initialize) o.after_initialize(threads);
#ifdef TAPEGRAD_BENCH_TORCH
  // libtorch's BLAS (libblas.so.3) may be OpenBLAS with its own thread pool: pin it too.
  benchmark::AddCustomContext("openblas_threads_set", set_openblas_threads(threads) ? "yes" : "no OpenBLAS");
  record_blas(benchmark::AddCustomContext);
#endif
  if (o.display) benchmark::RunSpecifiedBenchmarks(o.display);
  else benchmark::RunSpecifiedBenchmarks();
  if (o.after_run) o.after_run();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
