#pragma once
/// \file gemm_paths.h
/// Which backend the matrix products ran on: libxsmm's JIT kernels, oneDNN's sgemm or Eigen's GEMM.
#include <cstdint>

namespace tapegrad {

/// How many matrix products (matmul, linear, conv2d and their gradients) took each backend.
struct GemmPathCounts {
  int64_t libxsmm = 0;  ///< products run by libxsmm's JIT kernels (small and medium ones)
  int64_t eigen = 0;    ///< products run by Eigen's GEMM (large float64 ones, and all without libxsmm)
  int64_t onednn = 0;   ///< products run by oneDNN's sgemm (large float32 ones)
  /// float32 conv2d passes run by oneDNN's direct convolutions, one per chunk of images (at most
  /// 16 per pass; layers of 16 channels and more in and out)
  int64_t onednn_conv = 0;
};

/// How many matrix products every thread of the process ran through each backend since the
/// process started. The difference of two readings around some work says which path that work
/// took, so a report can name the path its figure measured instead of assuming the dispatch rule.
/// Other threads' products count too: read it where no other thread multiplies matrices.
GemmPathCounts gemm_path_counts();

}  // namespace tapegrad
