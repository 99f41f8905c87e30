#pragma once
// The machine's measured peak fp32/fp64 FMA throughput: independent vector FMA chains in
// registers (no memory traffic), on `threads` threads at once. Compile with -march=native.
#include <immintrin.h>

#include <chrono>
#include <thread>
#include <vector>

namespace bench {

/// GFLOP/s of a register-only FMA loop (12 independent accumulators, enough to hide the FMA
/// latency on two FMA pipes), float if `f32` else double, summed over `threads` threads.
inline double measured_fma_peak(bool f32, int threads) {
  constexpr long kIters = 20'000'000;
  auto work = [f32](double* sink) {
#if defined(__AVX512F__)
    using V = __m512;
    using VD = __m512d;
    constexpr int kLanes = 16;
#define FMA_PS _mm512_fmadd_ps
#define FMA_PD _mm512_fmadd_pd
#define SET_PS _mm512_set1_ps
#define SET_PD _mm512_set1_pd
#else
    using V = __m256;
    using VD = __m256d;
    constexpr int kLanes = 8;
#define FMA_PS _mm256_fmadd_ps
#define FMA_PD _mm256_fmadd_pd
#define SET_PS _mm256_set1_ps
#define SET_PD _mm256_set1_pd
#endif
    if (f32) {
      V acc[12];
      for (int i = 0; i < 12; ++i) acc[i] = SET_PS(float(i));
      const V a = SET_PS(0.999999f), b = SET_PS(1e-7f);
      for (long it = 0; it < kIters; ++it)
        for (int i = 0; i < 12; ++i) acc[i] = FMA_PS(acc[i], a, b);
      float s = 0;
      for (int i = 0; i < 12; ++i) s += reinterpret_cast<float*>(&acc[i])[0];
      *sink = s;
    } else {
      VD acc[12];
      for (int i = 0; i < 12; ++i) acc[i] = SET_PD(double(i));
      const VD a = SET_PD(0.999999), b = SET_PD(1e-7);
      for (long it = 0; it < kIters; ++it)
        for (int i = 0; i < 12; ++i) acc[i] = FMA_PD(acc[i], a, b);
      double s = 0;
      for (int i = 0; i < 12; ++i) s += reinterpret_cast<double*>(&acc[i])[0];
      *sink = s;
    }
    return kLanes;
  };
  std::vector<double> sinks(threads);
  std::vector<std::thread> pool;
  const auto t0 = std::chrono::steady_clock::now();
  int lanes = 0;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&, t] { work(&sinks[t]); });
  lanes = work(&sinks[0]);
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double lanes_per_vec = f32 ? lanes : lanes / 2;
  return double(threads) * kIters * 12 * lanes_per_vec * 2 / s * 1e-9;
}

}  // namespace bench
