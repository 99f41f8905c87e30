// tg::gemm_path_counts counts the matrix products, and only them: the benchmarks label their
// figures with the path it reports.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
int64_t total(const tg::GemmPathCounts& c) { return c.libxsmm + c.eigen; }
}  // namespace

TEST(GemmPaths, AMatrixProductCountsOnOnePath) {
  tg::Generator gen(27);
  auto a = tg::randn({4, 3}, gen), b = tg::randn({3, 5}, gen);
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  auto c = tg::matmul(a, b);
  const tg::GemmPathCounts after = tg::gemm_path_counts();
  EXPECT_GE(total(after) - total(before), 1);
  EXPECT_GE(after.libxsmm, before.libxsmm);
  EXPECT_GE(after.eigen, before.eigen);
}

TEST(GemmPaths, AnElementwiseOpCountsNothing) {
  tg::Generator gen(27);
  auto a = tg::randn({4, 3}, gen), b = tg::randn({4, 3}, gen);
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  auto c = tg::add(a, b);
  EXPECT_EQ(total(tg::gemm_path_counts()), total(before));
}
