// Question: would OpenBLAS be a faster GEMM backend than tapegrad's Eigen? cblas_sgemm and
// cblas_dgemm, row-major, at the shapes of gemm.cpp, next to the same measured FMA peak.
// OpenBLAS reads OPENBLAS_CORETYPE (set by the environment) when it loads; we never change it.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>

#include "fma_peak.h"
#include "main.h"
#include "models.h"

namespace {
double peak[2];

void BM_fma_peak(benchmark::State& s) {
  // Measured once in main; no DoNotOptimize here: GCC 12 with -march=native clobbered the
  // double through its "+m,r" asm operand.
  for (auto _ : s) {
  }
  s.counters["peak_f32_GFLOPs"] = peak[0];
  s.counters["peak_f64_GFLOPs"] = peak[1];
}

template <class T>
void run(benchmark::State& s, int m, int k, int n) {
  const auto a = bench::fixed_input(m, k, sizeof(T) == 4 ? tapegrad::Dtype::f32 : tapegrad::Dtype::f64, 1);
  const auto b = bench::fixed_input(k, n, a.dtype(), 2);
  std::vector<T> c(size_t(m) * n);
  for (auto _ : s) {
    if constexpr (sizeof(T) == 4)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, a.data<float>(), k, b.data<float>(), n,
                  0.f, c.data(), n);
    else
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a.data<double>(), k, b.data<double>(),
                  n, 0.0, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  const double flops = 2.0 * m * n * k;
  s.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  s.counters["pct_of_peak"] = benchmark::Counter(100 * flops * 1e-9 / peak[sizeof(T) == 4 ? 0 : 1],
                                                 benchmark::Counter::kIsIterationInvariantRate);
  s.SetLabel(sizeof(T) == 4 ? "f32" : "f64");
}

void BM_cblas_gemm(benchmark::State& s) {
  if (s.range(3) == 32) run<float>(s, s.range(0), s.range(1), s.range(2));
  else run<double>(s, s.range(0), s.range(1), s.range(2));
}

}  // namespace

BENCHMARK(BM_fma_peak)->Iterations(1);
BENCHMARK(BM_cblas_gemm)->Apply(bench::gemm_shapes);

int main(int argc, char** argv) {
  bench::MainOptions o;
  o.before_initialize = [](int threads) {
    openblas_set_num_threads(threads);
    for (int f = 0; f < 2; ++f)
      for (int r = 0; r < 5; ++r) peak[f] = std::max(peak[f], bench::measured_fma_peak(f == 0, threads));
  };
  o.after_initialize = [](int) { benchmark::AddCustomContext("openblas_config", openblas_get_config()); };
  return bench::run_main(argc, argv, o);
}
