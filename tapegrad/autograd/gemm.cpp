#include "tapegrad/autograd/gemm.h"

#include <Eigen/Core>

#include "tapegrad/autograd/threads.h"

namespace tapegrad::detail {

namespace {
// Products smaller than this many multiply-adds run on one thread: splitting them costs more in
// OpenMP fork/join (and, on a loaded machine, in waiting for a descheduled worker) than it saves.
constexpr double kParallelWork = double(1 << 23);

// The thread count Eigen was last told on this thread (OpenMP's setting is per thread).
thread_local int eigen_threads = 0;

void use_threads(int n) {
  if (n != eigen_threads) {
    Eigen::setNbThreads(n);
    eigen_threads = n;
  }
}
}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, T beta,
          T* c) {
  use_threads(static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < kParallelWork ? 1
                                                                                                       : num_threads());
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

void apply_num_threads(int n) { use_threads(n); }

}  // namespace tapegrad::detail
