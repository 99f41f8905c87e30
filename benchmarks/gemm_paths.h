#pragma once
// Which GEMM path the products between two readings of tg::gemm_path_counts took, as a benchmark
// label ("libxsmm", "Eigen", or "libxsmm 3 + Eigen 2"), so that the report says what was measured
// instead of assuming the dispatch rule.
#include <string>

#include "tapegrad/autograd/gemm_paths.h"

namespace bench {

inline std::string gemm_paths(const tapegrad::GemmPathCounts& before, const tapegrad::GemmPathCounts& after) {
  const int64_t x = after.libxsmm - before.libxsmm, e = after.eigen - before.eigen;
  if (x > 0 && e == 0) return "libxsmm";
  if (e > 0 && x == 0) return "Eigen";
  if (x == 0 && e == 0) return "no GEMM";
  return "libxsmm " + std::to_string(x) + " + Eigen " + std::to_string(e);
}

}  // namespace bench
