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
