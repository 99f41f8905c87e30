#pragma once
// The machine's measured peak fp32/fp64 FMA throughput: independent vector FMA chains in
// registers (no memory traffic), on `threads` threads at once. Compile with -march=native.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <chrono>
#include <thread>
#include <vector>

namespace bench {

#if defined(__AVX512F__)
using VecF = __m512;
using VecD = __m512d;
inline VecF fma(VecF a, VecF b, VecF c) { return _mm512_fmadd_ps(a, b, c); }
inline VecD fma(VecD a, VecD b, VecD c) { return _mm512_fmadd_pd(a, b, c); }
inline void splat(VecF& v, float x) { v = _mm512_set1_ps(x); }
inline void splat(VecD& v, double x) { v = _mm512_set1_pd(x); }
inline double first(VecF v) { return _mm512_cvtss_f32(v); }
inline double first(VecD v) { return _mm512_cvtsd_f64(v); }
#else
using VecF = __m256;
using VecD = __m256d;
inline VecF fma(VecF a, VecF b, VecF c) { return _mm256_fmadd_ps(a, b, c); }
inline VecD fma(VecD a, VecD b, VecD c) { return _mm256_fmadd_pd(a, b, c); }
inline void splat(VecF& v, float x) { v = _mm256_set1_ps(x); }
inline void splat(VecD& v, double x) { v = _mm256_set1_pd(x); }
inline double first(VecF v) { return _mm256_cvtss_f32(v); }
inline double first(VecD v) { return _mm256_cvtsd_f64(v); }
#endif

/// Runs `iters` rounds of 12 independent FMA chains (enough to cover FMA latency x 2 pipes) and
/// returns a value that depends on all of them, so nothing is optimised away.
template <class V>
double fma_chains(long iters) {
  V a, b, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11;
  splat(a, 0.999999f), splat(b, 1e-7f);
  splat(c0, 0), splat(c1, 1), splat(c2, 2), splat(c3, 3), splat(c4, 4), splat(c5, 5);
  splat(c6, 6), splat(c7, 7), splat(c8, 8), splat(c9, 9), splat(c10, 10), splat(c11, 11);
  for (long it = 0; it < iters; ++it) {
    c0 = fma(c0, a, b), c1 = fma(c1, a, b), c2 = fma(c2, a, b), c3 = fma(c3, a, b);
    c4 = fma(c4, a, b), c5 = fma(c5, a, b), c6 = fma(c6, a, b), c7 = fma(c7, a, b);
    c8 = fma(c8, a, b), c9 = fma(c9, a, b), c10 = fma(c10, a, b), c11 = fma(c11, a, b);
  }
  return first(c0) + first(c1) + first(c2) + first(c3) + first(c4) + first(c5) + first(c6) + first(c7) +
         first(c8) + first(c9) + first(c10) + first(c11);
}

/// GFLOP/s of the register-only FMA loop, float if `f32` else double, summed over `threads`.
inline double measured_fma_peak(bool f32, int threads) {
  constexpr long kIters = 20'000'000;
  const double flops_per_iter = 12.0 * 2 * (f32 ? sizeof(VecF) / 4 : sizeof(VecD) / 8);
  std::vector<double> sinks(static_cast<size_t>(threads));
  auto work = [&](int t) { sinks[size_t(t)] = f32 ? fma_chains<VecF>(kIters) : fma_chains<VecD>(kIters); };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile double keep = sinks[0];
  (void)keep;
  return double(threads) * double(kIters) * flops_per_iter / s * 1e-9;
}

// The GEMM shapes of the issue, (m, k, n) in float32 and float64, for both GEMM programs.
inline void gemm_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "k", "n", "bits"})
      ->UseRealTime()
      ->ArgsProduct({{100}, {784}, {50}, {32, 64}})
      ->ArgsProduct({{256}, {784}, {512}, {32, 64}})
      ->ArgsProduct({{1024}, {1024}, {1024}, {32, 64}});
}

}  // namespace bench
