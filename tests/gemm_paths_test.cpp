// tg::gemm_path_counts counts the matrix products, and only them: the benchmarks label their
// figures with the path it reports.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
int64_t total(const tg::GemmPathCounts& c) { return c.libxsmm + c.eigen + c.onednn; }
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
  EXPECT_GE(after.onednn, before.onednn);
}

// Where oneDNN is built in, a float32 product too large for libxsmm runs on its sgemm, and a
// float64 one on Eigen (oneDNN has no float64); the result is the product either way.
TEST(GemmPaths, LargeFloat32ProductsTakeOneDnnAndFloat64OnesEigen) {
  tg::Generator gen(28);
  const tg::Tensor a = tg::randn({700, 700}, gen), b = tg::randn({700, 700}, gen);
  tg::GemmPathCounts before = tg::gemm_path_counts();
  const tg::Tensor c = tg::matmul(a, b);
  tg::GemmPathCounts after = tg::gemm_path_counts();
  EXPECT_EQ(total(after) - total(before), 1);
  const bool onednn_built = tg::bf16_path().find("built without oneDNN") == std::string::npos;
  EXPECT_EQ(after.onednn - before.onednn, onednn_built ? 1 : 0);
  EXPECT_EQ(after.eigen - before.eigen, onednn_built ? 0 : 1);
  const tg::Tensor ref = tg::matmul(a.to(tg::Dtype::f64), b.to(tg::Dtype::f64));
  EXPECT_LT(tg::max(tg::abs(c.to(tg::Dtype::f64) - ref)).item(), 1e-3);
  before = tg::gemm_path_counts();
  (void)tg::matmul(a.to(tg::Dtype::f64), b.to(tg::Dtype::f64));
  after = tg::gemm_path_counts();
  EXPECT_EQ(after.onednn, before.onednn) << "oneDNN has no float64 product";
}

TEST(GemmPaths, AnElementwiseOpCountsNothing) {
  tg::Generator gen(27);
  auto a = tg::randn({4, 3}, gen), b = tg::randn({4, 3}, gen);
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  auto c = tg::add(a, b);
  EXPECT_EQ(total(tg::gemm_path_counts()), total(before));
}
