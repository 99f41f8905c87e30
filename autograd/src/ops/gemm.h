#pragma once
// Internal: the one place the library calls a GEMM. Row-major C = alpha op(A) op(B) + beta C.
// Backed by libxsmm's JIT kernels for small and medium products and Eigen's GEMM beyond, chosen by
// measurement (see docs/performance.md and benchmarks/gemm.cpp); kept out of headers because
// Eigen's product code compiles slowly.
#include <cstdint>

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

}  // namespace tapegrad::detail
