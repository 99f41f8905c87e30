// Matrix products large enough to take every GEMM path (one thread, rows split over threads,
// transposed operands in backward) agree with float64.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
void expect_close(const tg::Tensor& got, const tg::Tensor& want, const char* what) {
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  ASSERT_EQ(g.size(), w.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], 1e-3 + 1e-4 * std::abs(w[i])) << what << " element " << i;
}
}  // namespace

TEST(Matmul, LargeProductsAndTheirGradientsMatchFloat64OnOneAndTwoThreads) {
  tg::Generator gen(21);
  // 256 x 300 x 200 = 15.4M multiply-adds: above the one-thread limit, so two threads split it.
  auto A = tg::randn({256, 300}, gen), B = tg::randn({300, 200}, gen), G = tg::randn({256, 200}, gen);
  auto A64 = A.to(tg::Dtype::f64).detach().requires_grad(true), B64 = B.to(tg::Dtype::f64).detach().requires_grad(true);
  auto C64 = tg::matmul(A64, B64);
  C64.backward(G.to(tg::Dtype::f64));
  for (int threads : {1, 2}) {
    tg::set_num_threads(threads);
    auto a = A.clone().requires_grad(true), b = B.clone().requires_grad(true);
    auto C = tg::matmul(a, b);
    C.backward(G);
    expect_close(C, C64, "C");
    expect_close(a.grad(), A64.grad(), "dA = dC B^T");
    expect_close(b.grad(), B64.grad(), "dB = A^T dC");
  }
  tg::set_num_threads(1);
}

// matmul(x, transpose(w)), a layer's x W^T: the gradient of x is dY w, read as w is stored (one
// product without transposed operands), not dY transpose(w)^T, which at this size (a transposed
// operand of 512 x 128) would take Eigen's path; the same values either way.
TEST(Matmul, GradientThroughATransposeReadsTheTransposedTensorAsStored) {
  tg::Generator gen(31);
  {
    const tg::GemmPathCounts before = tg::gemm_path_counts();
    (void)tg::matmul(tg::randn({4, 3}, gen), tg::randn({3, 5}, gen));
    if (tg::gemm_path_counts().libxsmm == before.libxsmm) GTEST_SKIP() << "tapegrad was built without libxsmm";
  }
  const tg::Tensor x = tg::randn({64, 128}, gen).requires_grad(true);
  const tg::Tensor w = tg::randn({512, 128}, gen).requires_grad(true);
  const tg::Tensor upstream = tg::randn({64, 512}, gen);
  const tg::Tensor y = tg::matmul(x, tg::transpose(w));
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  y.backward(upstream);
  EXPECT_EQ(tg::gemm_path_counts().eigen, before.eigen) << "a gradient product took Eigen's path";
  const std::vector<float> want = tg::matmul(upstream, w).to_vector<float>(), got = x.grad().to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i])));
}

// Under create_graph the gradient is recorded through transpose(w) itself, so that it can be
// differentiated with respect to that tensor too (here d/dB of |dY B^T|^2, B = transpose(w)).
TEST(Matmul, RecordedGradientThroughATransposeDependsOnIt) {
  tg::Generator gen(32);
  const tg::Tensor x = tg::randn({3, 4}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor w = tg::randn({5, 4}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor b = tg::transpose(w);
  const std::vector<tg::Tensor> g = tg::grad(tg::sum(tg::matmul(x, b)), {x}, {.create_graph = true});
  const std::vector<tg::Tensor> gb = tg::grad(tg::sum(g[0] * g[0]), {b});
  // g = 1 B^T (every row the row sums of B); d/dB sum(g^2) = 2 * 3 * rowsum(B) broadcast over columns.
  const std::vector<double> bv = b.to_vector<double>();
  for (int64_t r = 0; r < 4; ++r) {
    double rowsum = 0;
    for (int64_t c = 0; c < 5; ++c) rowsum += bv[static_cast<size_t>(r * 5 + c)];
    for (int64_t c = 0; c < 5; ++c) EXPECT_NEAR(gb[0].to_vector<double>()[static_cast<size_t>(r * 5 + c)], 6 * rowsum, 1e-12);
  }
}
