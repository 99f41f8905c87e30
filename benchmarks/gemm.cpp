// Question: how fast is tapegrad's matrix product (libxsmm or Eigen, as gemm.cpp chooses; the
// label says which ran) next to the machine's
// measured FMA peak? tg::matmul alone at (m,k,n) = (100,784,50), (256,784,512), (1024,1024,1024)
// in float32 and float64. gemm_openblas.cpp runs the same shapes through OpenBLAS's cblas, in its
// own executable, so the backend can be chosen by measuring both.
#include <benchmark/benchmark.h>

#include <algorithm>

#include "fma_peak.h"
#include "gemm_paths.h"
#include "main.h"
#include "models.h"

namespace {
namespace tg = tapegrad;
double peak[2];  // measured GFLOP/s at this run's thread count: [0] f32, [1] f64

void BM_fma_peak(benchmark::State& s) {
  // Measured once in main; no DoNotOptimize here: GCC 12 with -march=native clobbered the
  // double through its "+m,r" asm operand.
  for (auto _ : s) {
  }
  s.counters["peak_f32_GFLOPs"] = peak[0];
  s.counters["peak_f64_GFLOPs"] = peak[1];
}

void BM_matmul(benchmark::State& s) {
  const int64_t m = s.range(0), k = s.range(1), n = s.range(2);
  const bool f32 = s.range(3) == 32;
  const tg::Dtype dt = f32 ? tg::Dtype::f32 : tg::Dtype::f64;
  const tg::Tensor a = bench::fixed_input(m, k, dt, 1), b = bench::fixed_input(k, n, dt, 2);
  tg::NoGradGuard no_grad;
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  for (auto _ : s) benchmark::DoNotOptimize(tg::matmul(a, b).raw_data());
  const tg::GemmPathCounts after = tg::gemm_path_counts();
  const double flops = 2.0 * double(m) * double(n) * double(k);
  s.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  s.counters["pct_of_peak"] = benchmark::Counter(100 * flops * 1e-9 / (f32 ? peak[0] : peak[1]),
                                                 benchmark::Counter::kIsIterationInvariantRate);
  s.SetLabel(std::string(f32 ? "f32" : "f64") + " " + bench::gemm_paths(before, after));
}

}  // namespace

BENCHMARK(BM_fma_peak)->Iterations(1);
BENCHMARK(BM_matmul)->Apply(bench::gemm_shapes);

int main(int argc, char** argv) {
  bench::MainOptions o;
  o.before_initialize = [](int threads) {
    for (int f = 0; f < 2; ++f)
      for (int r = 0; r < 5; ++r) peak[f] = std::max(peak[f], bench::measured_fma_peak(f == 0, threads));
  };
  return bench::run_main(argc, argv, o);
}
