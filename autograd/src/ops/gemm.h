#pragma once
// Internal: the one place the library calls a GEMM. Row-major C = alpha op(A) op(B) + beta C.
// Backed by libxsmm's JIT kernels for small and medium products and Eigen's GEMM beyond, chosen by
// measurement (see docs/performance.md and benchmarks/gemm.cpp); kept out of headers because
// Eigen's product code compiles slowly.
#include <cstdint>
#include <type_traits>

#include "tls.h"

namespace tapegrad::detail {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, T beta,
          T* c);

// A product's plan, for a compiled step: the libxsmm kernel that gemm() would dispatch at every
// call of C = op(A) op(B) (alpha 1, beta 0), dispatched once, or null where gemm() takes another
// path (a product split over threads, or Eigen's). gemm_with runs it, as gemm() would.
template <class T>
const void* gemm_kernel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k);
template <class T>
void gemm_with(const void* kernel, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
               const T* b, T* c);

// The products of tg::AutocastGuard (gemm_bf16.cpp): row-major C = op(A) op(B) + beta C (beta 0
// or 1) with A and B rounded to bfloat16 first and the products accumulated in float32: through
// oneDNN on a processor with bfloat16 units, else gemm<float> on the rounded values.
// `a_bits`, if given, is A already rounded (conv2d rounds its weights once for all its images).
void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
               float beta, float* c, const uint16_t* a_bits = nullptr);
// `count` floats rounded to bfloat16 bits, to nearest even, on `threads` threads.
void round_to_bf16(const float* x, int64_t count, uint16_t* out, int threads = 1);
// `count` floats rounded to bfloat16 values, kept as floats (the float32 path's operands).
void round_floats(const float* x, int64_t count, float* out);
// Its plan for a compiled step: the oneDNN primitive, created now, or null for the float32 path.
const void* gemm_bf16_kernel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k);
void gemm_bf16_with(const void* kernel, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                    const float* b, float* c);

// The threads a product of `work` multiply-adds runs on: one below 2^23 (OpenMP's fork and join
// would cost more than they save), and one inside a parallel part (conv2d's images), so that a
// product computes the same bits whatever the thread count around it; else tg::set_num_threads.
int product_threads(double work);

// oneDNN's OpenMP regions take the calling thread's max-threads setting: an object of this sets it
// to `n` for its lifetime, so that oneDNN never runs more threads than tg::set_num_threads.
struct OmpThreads {
  int previous;
  explicit OmpThreads(int n);
  ~OmpThreads();
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;
};

// True while a tg::AutocastGuard(Dtype::bf16) is alive on this thread.
extern TG_TLS thread_local bool autocast_bf16;

// The OpSpec::autocast hook of every product op: the call's bf16 flag from the thread's state (the
// public functions set the same flag from autocast_bf16 directly).
template <class A>
void record_autocast(A& args) {
  args.bf16 = autocast_bf16;
}

// C = op(A) op(B) + beta C for an op that recorded `bf16` (autocast was on at its call): float32
// products then take bfloat16 operands; float64 ones never do (as torch.autocast, which casts
// float32 only).
template <class T>
inline void product(bool bf16, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
                    T beta, T* c, const uint16_t* a_bits = nullptr) {
  if constexpr (std::is_same_v<T, float>)
    if (bf16) return gemm_bf16(trans_a, trans_b, m, n, k, a, b, beta, c, a_bits);
  gemm<T>(trans_a, trans_b, m, n, k, T(1), a, b, beta, c);
}

}  // namespace tapegrad::detail
