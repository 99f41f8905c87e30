#pragma once
// Which GEMM path the products between two readings of tg::gemm_path_counts took, as a benchmark
// label ("libxsmm", "oneDNN", "Eigen", or "libxsmm 3 + Eigen 2"), so that the report says what was measured
// instead of assuming the dispatch rule.
#include <string>
#include <utility>

#include "tapegrad/autograd/gemm_paths.h"

namespace bench {

inline std::string gemm_paths(const tapegrad::GemmPathCounts& before, const tapegrad::GemmPathCounts& after) {
  const std::pair<const char*, int64_t> paths[] = {{"libxsmm", after.libxsmm - before.libxsmm},
                                                   {"oneDNN", after.onednn - before.onednn},
                                                   {"Eigen", after.eigen - before.eigen}};
  std::string one, all;
  int used = 0;
  for (const auto& [name, count] : paths)
    if (count > 0) {
      one = name;
      all += (all.empty() ? "" : " + ") + std::string(name) + " " + std::to_string(count);
      ++used;
    }
  return used == 0 ? "no GEMM" : used == 1 ? one : all;
}

}  // namespace bench
