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
// product without transposed operands), not dY transpose(w)^T; the same values either way.
TEST(Matmul, GradientThroughATransposeReadsTheTransposedTensorAsStored) {
  tg::Generator gen(31);
  const tg::Tensor x = tg::randn({3, 4}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor w = tg::randn({5, 4}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor upstream = tg::randn({3, 5}, gen, tg::Dtype::f64);
  const tg::Tensor y = tg::matmul(x, tg::transpose(w));
  const std::vector<tg::Tensor> g = tg::grad(y, {x, w}, {.create_graph = true, .grad_output = upstream});
  bool reads_w = false;
  for (const tg::NodeView& n : tg::Tape::current().nodes_of(g[0]))
    if (n.op == "gemm" && n.inputs.size() == 2 && n.inputs[1].is_same(w)) reads_w = true;
  EXPECT_TRUE(reads_w) << "the gradient of x does not read w directly";
  // dY w and w's gradient dY^T x, against the products written out.
  const std::vector<double> want_x = tg::matmul(upstream, w).detach().to_vector<double>();
  const std::vector<double> got_x = g[0].detach().to_vector<double>();
  for (size_t i = 0; i < want_x.size(); ++i) EXPECT_NEAR(got_x[i], want_x[i], 1e-14);
  const std::vector<double> want_w = tg::matmul(tg::transpose(upstream), x).detach().to_vector<double>();
  const std::vector<double> got_w = g[1].detach().to_vector<double>();
  for (size_t i = 0; i < want_w.size(); ++i) EXPECT_NEAR(got_w[i], want_w[i], 1e-14);
  // w changed in place after the transpose was recorded: the gradient does not read the new w
  // (the transpose's version check reports it instead).
  const tg::Tensor v = tg::randn({5, 4}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor yv = tg::matmul(x, tg::transpose(v));
  {
    tg::NoGradGuard no_grad;
    v.detach().mul_(2.0);
  }
  EXPECT_THROW(yv.backward(upstream), tg::Error);
}
