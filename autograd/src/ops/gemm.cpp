#include "ops/gemm.h"

#include "ops/conv.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <type_traits>
#include <vector>

#ifdef TAPEGRAD_HAVE_LIBXSMM
#include <libxsmm.h>
#endif
#ifdef TAPEGRAD_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include "tapegrad/autograd/gemm_paths.h"
#include "tapegrad/core/threads.h"

namespace tapegrad::detail {

namespace {
// Products smaller than this many multiply-adds run on one thread: splitting them costs more in
// OpenMP fork/join (and, on a loaded machine, in waiting for a descheduled worker) than it saves.
constexpr double kParallelWork = double(1 << 23);

// The thread count this thread last told Eigen (a cache of the process-wide setting, read here only).
thread_local int eigen_threads = 0;
// Process-wide and relaxed: a thread_local in a shared library costs a call per access. Read by
// tg::gemm_path_counts (tapegrad/autograd/gemm_paths.h).
std::atomic<int64_t> xsmm_count{0}, eigen_count{0}, dnnl_count{0};

// Eigen's thread count is one process-wide setting: a product inside a parallel part (conv2d's
// images) leaves it alone (Eigen runs one thread inside a parallel region anyway).
void use_threads(int n) {
  if (n != eigen_threads && !omp_in_parallel()) {
    Eigen::setNbThreads(n);
    eigen_threads = n;
  }
}
}  // namespace

int product_threads(double work) { return work < kParallelWork || omp_in_parallel() ? 1 : num_threads(); }

#ifdef TAPEGRAD_HAVE_LIBXSMM
// Products up to a few hundred million multiply-adds go to libxsmm's JIT kernels: 25% less time
// than Eigen on the five products of a 784-50-10 training step at batch 100, 180-257 GFLOP/s
// against Eigen's 182-185 on those of a 784-512-512-10 step (benchmarks/gemm.cpp;
// ../shared/perf/GEMM.md); beyond that Eigen is faster. The kernels are column-major, so row-major
// C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T; the JIT has no form for a transposed first
// operand, so a transposed row-major B is copied transposed first (only when B is small).
constexpr double kXsmmMaxWork = double(1 << 28);

// The kernel for rows [0, rows) of C from the matching rows of op(A), or null; lda is the leading
// dimension of A's storage. Run as f(b, a, c): the kernels are column-major.
template <class T>
using XsmmKernel = std::conditional_t<std::is_same_v<T, float>, libxsmm_smmfunction, libxsmm_dmmfunction>;
template <class T>
XsmmKernel<T> xsmm_dispatch(bool trans_a, int64_t rows, int64_t n, int64_t k, int64_t lda, T alpha, T beta) {
  static const bool initialised = (libxsmm_init(), true);
  (void)initialised;
  const libxsmm_blasint M = static_cast<libxsmm_blasint>(n), N = static_cast<libxsmm_blasint>(rows),
                        K = static_cast<libxsmm_blasint>(k);
  const libxsmm_blasint ld_first = M, ld_second = static_cast<libxsmm_blasint>(lda), ldc = M;
  const int flags = trans_a ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
  if constexpr (std::is_same_v<T, float>)
    return libxsmm_smmdispatch(M, N, K, &ld_first, &ld_second, &ldc, &alpha, &beta, &flags, nullptr);
  else
    return libxsmm_dmmdispatch(M, N, K, &ld_first, &ld_second, &ldc, &alpha, &beta, &flags, nullptr);
}

template <class T>
bool xsmm_rows(bool trans_a, int64_t rows, int64_t n, int64_t k, int64_t lda, T alpha, const T* a, const T* b,
               T beta, T* c) {
  XsmmKernel<T> f = xsmm_dispatch(trans_a, rows, n, k, lda, alpha, beta);
  if (!f) return false;
  f(b, a, c);
  return true;
}

// B^T of a transposed row-major B ([n, k] stored), which the kernels cannot read: a copy in a
// per-thread buffer, tiled so that both the reads and the writes stay in cache.
template <class T>
const T* transposed_b(const T* b, int64_t n, int64_t k) {
  thread_local std::vector<T> scratch;
  scratch.resize(static_cast<size_t>(n * k));
  constexpr int64_t kTile = 32;
  for (int64_t i0 = 0; i0 < n; i0 += kTile)
    for (int64_t j0 = 0; j0 < k; j0 += kTile)
      for (int64_t i = i0; i < std::min(i0 + kTile, n); ++i)
        for (int64_t j = j0; j < std::min(j0 + kTile, k); ++j) scratch[static_cast<size_t>(j * n + i)] = b[i * k + j];
  return scratch.data();
}

// The whole product through libxsmm, its rows split over `threads`; false if a kernel was missing
// (callers come here with beta == 0, or beta == 1 on one thread, where nothing was written yet).
template <class T>
bool xsmm_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, T beta,
               T* c, int threads) {
  if (trans_b) b = transposed_b(b, n, k);
  const int64_t lda = trans_a ? m : k;
  if (threads <= 1 || m < 32) return xsmm_rows(trans_a, m, n, k, lda, alpha, a, b, beta, c);
  bool ok = true;
#pragma omp parallel for num_threads(threads) reduction(&& : ok)
  for (int t = 0; t < threads; ++t) {
    const int64_t r0 = m * t / threads, r1 = m * (t + 1) / threads;
    const T* at = trans_a ? a + r0 : a + r0 * k;  // row r of op(A): column r of a transposed A
    ok = xsmm_rows(trans_a, r1 - r0, n, k, lda, alpha, at, b, beta, c + r0 * n) && ok;
  }
  return ok;
}

// A transposed B must be copied first; for a large B that copy costs more than libxsmm saves.
bool cheap_copy(bool trans_b, int64_t n, int64_t k) {
  return !trans_b || static_cast<double>(n) * static_cast<double>(k) < 65536;
}
#endif

template <class T>
const void* gemm_kernel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
#ifdef TAPEGRAD_HAVE_LIBXSMM
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (m > 0 && n > 0 && k > 0 && work < kParallelWork && cheap_copy(trans_b, n, k))
    return reinterpret_cast<const void*>(xsmm_dispatch<T>(trans_a, m, n, k, trans_a ? m : k, T(1), T(0)));
#endif
  (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k;
  return nullptr;
}

template <class T>
void gemm_with(const void* kernel, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
               const T* b, T* c) {
#ifdef TAPEGRAD_HAVE_LIBXSMM
  (void)trans_a, (void)m;
  if (trans_b) b = transposed_b(b, n, k);
  reinterpret_cast<XsmmKernel<T>>(kernel)(b, a, c);
  xsmm_count.fetch_add(1, std::memory_order_relaxed);
#else
  (void)kernel;
  gemm<T>(trans_a, trans_b, m, n, k, T(1), a, b, T(0), c);
#endif
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, T beta,
          T* c) {
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
#ifdef TAPEGRAD_HAVE_LIBXSMM
  // beta = 1 (conv2d's weight gradient, summed image by image) only on one thread: there the
  // kernel is dispatched before anything is written, so a missing kernel leaves C untouched for
  // Eigen; split over threads, one part could be added before another part's dispatch failed.
  const int threads = product_threads(work);
  if (m > 0 && n > 0 && k > 0 && (beta == T(0) || (beta == T(1) && threads == 1)) && cheap_copy(trans_b, n, k) &&
      work < kXsmmMaxWork && xsmm_gemm(trans_a, trans_b, m, n, k, alpha, a, b, beta, c, threads)) {
    xsmm_count.fetch_add(1, std::memory_order_relaxed);
    return;
  }
#endif
#ifdef TAPEGRAD_HAVE_DNNL
  // Smaller products (where libxsmm is not built in: sanitizer and non-native builds) stay on Eigen,
  // which is as fast there and has no call overhead: 100x784x50 ran at 81 GFLOP/s on Eigen
  // against sgemm's 70 (benchmarks/gemm_backends.cpp).
  constexpr double kDnnlMinWork = double(1 << 22);
  // float32 products too large for libxsmm (or with a large transposed B, which it would copy):
  // oneDNN's sgemm reads both layouts in place and ran 1024^3 at 87% of the one-thread FMA peak
  // against Eigen's 66% (docs/performance.md, "Matrix-product backends").
  if constexpr (std::is_same_v<T, float>) {
    if (work >= kDnnlMinWork) {  // so m, n, k > 0
      OmpThreads omp(product_threads(work));
      if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, trans_a ? m : k, b,
                     trans_b ? k : n, beta, c, n) == dnnl_success) {
        dnnl_count.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
  }
#endif
  eigen_count.fetch_add(1, std::memory_order_relaxed);
  use_threads(product_threads(work));
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const Mat>;
  Eigen::Map<Mat> C(c, m, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == T(0)) C.setZero();
    else C *= beta;
    return;
  }
  // Stored shapes: A is [m,k] or, transposed, [k,m]; B is [k,n] or [n,k].
  CMap A(a, trans_a ? k : m, trans_a ? m : k);
  CMap B(b, trans_b ? n : k, trans_b ? k : n);
  if (beta == T(0)) C.setZero();
  else if (beta != T(1)) C *= beta;
  if (!trans_a && !trans_b) C.noalias() += alpha * A * B;
  else if (trans_a && !trans_b) C.noalias() += alpha * A.transpose() * B;
  else if (!trans_a && trans_b) C.noalias() += alpha * A * B.transpose();
  else C.noalias() += alpha * A.transpose() * B.transpose();
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, const double*, double,
                           double*);
template const void* gemm_kernel<float>(bool, bool, int64_t, int64_t, int64_t);
template const void* gemm_kernel<double>(bool, bool, int64_t, int64_t, int64_t);
template void gemm_with<float>(const void*, bool, bool, int64_t, int64_t, int64_t, const float*, const float*, float*);
template void gemm_with<double>(const void*, bool, bool, int64_t, int64_t, int64_t, const double*, const double*,
                                double*);

}  // namespace tapegrad::detail

namespace tapegrad {

GemmPathCounts gemm_path_counts() {
  return {detail::xsmm_count.load(std::memory_order_relaxed), detail::eigen_count.load(std::memory_order_relaxed),
          detail::dnnl_count.load(std::memory_order_relaxed), detail::dnnl_conv_count.load(std::memory_order_relaxed)};
}

}  // namespace tapegrad
