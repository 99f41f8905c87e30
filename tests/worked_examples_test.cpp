// The classic hand-computed backpropagation examples, reproduced with the library's own ops.
#include <gtest/gtest.h>

#include <cmath>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
tg::Tensor scalar(double v) { return tg::tensor(v, tg::Dtype::f64).requires_grad(true); }

// One step of plain gradient descent on every parameter.
void descend(std::vector<tg::Tensor>& params, double lr) {
  tg::NoGradGuard no_grad;
  for (tg::Tensor& p : params) {
    p.add_(p.grad(), -lr);
    p.zero_grad();
  }
}

// Trains until the step in which E < 1e-7 (that step's update still applied); returns its epoch index.
template <class LossFn>
int train_until_converged(std::vector<tg::Tensor>& params, LossFn loss_fn, double lr, int max_epochs = 100000) {
  for (int epoch = 0; epoch < max_epochs; ++epoch) {
    tg::Tensor E = loss_fn();
    const double e = E.item();
    E.backward();
    descend(params, lr);
    if (e < 1e-7) return epoch;
  }
  return -1;
}
}  // namespace

TEST(WorkedExamples, OneNeuronForwardBackwardAndOneStep) {
  auto x = tg::tensor(2.0, tg::Dtype::f64), t = tg::tensor(10.0, tg::Dtype::f64);
  auto w = scalar(3.0), b = scalar(1.0);
  auto y = x * w + b;
  auto E = tg::square(y - t) / 2.0;
  EXPECT_DOUBLE_EQ(y.item(), 7.0);
  EXPECT_DOUBLE_EQ(E.item(), 4.5);
  E.backward();
  EXPECT_DOUBLE_EQ(w.grad().item(), -6.0);
  EXPECT_DOUBLE_EQ(b.grad().item(), -3.0);
  std::vector<tg::Tensor> params{w, b};
  descend(params, 0.01);
  EXPECT_NEAR(w.item(), 3.06, 1e-12);
  EXPECT_NEAR(b.item(), 1.03, 1e-12);
}

TEST(WorkedExamples, OneNeuronTrainsTo4_2And1_6AndStopsAtEpoch172) {
  auto x = tg::tensor(2.0, tg::Dtype::f64), t = tg::tensor(10.0, tg::Dtype::f64);
  auto w = scalar(3.0), b = scalar(1.0);
  std::vector<tg::Tensor> params{w, b};
  auto loss = [&] { return tg::square(x * w + b - t) / 2.0; };
  for (int i = 0; i < 200; ++i) {
    loss().backward();
    descend(params, 0.01);
  }
  EXPECT_NEAR(w.item(), 4.200, 5e-4);
  EXPECT_NEAR(b.item(), 1.600, 5e-4);

  auto w2 = scalar(3.0), b2 = scalar(1.0);
  std::vector<tg::Tensor> fresh{w2, b2};
  EXPECT_EQ(train_until_converged(fresh, [&] { return tg::square(x * w2 + b2 - t) / 2.0; }, 0.01), 172);
}

TEST(WorkedExamples, TwoInputsOneOutput) {
  auto x = tg::tensor({2.0, 3.0}, tg::Dtype::f64), t = tg::tensor(27.0, tg::Dtype::f64);
  auto w = tg::tensor({3.0, 4.0}, tg::Dtype::f64).requires_grad(true);
  auto b = scalar(1.0);
  auto loss = [&] { return tg::square(tg::sum(x * w) + b - t) / 2.0; };
  auto E = loss();
  EXPECT_DOUBLE_EQ((tg::sum(x * w) + b).item(), 19.0);
  EXPECT_DOUBLE_EQ(E.item(), 32.0);
  E.backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{-16.0, -24.0}));
  EXPECT_DOUBLE_EQ(b.grad().item(), -8.0);
  std::vector<tg::Tensor> params{w, b};
  descend(params, 0.01);
  EXPECT_NEAR(w.at({0}), 3.16, 1e-12);
  EXPECT_NEAR(w.at({1}), 4.24, 1e-12);
  EXPECT_NEAR(b.item(), 1.08, 1e-12);

  // From the start again: converges at epoch index 65.
  w.copy_(tg::tensor({3.0, 4.0}, tg::Dtype::f64));
  b.copy_(tg::tensor(1.0, tg::Dtype::f64));
  EXPECT_EQ(train_until_converged(params, loss, 0.01), 65);
  EXPECT_NEAR(w.at({0}), 4.143, 5e-4);
  EXPECT_NEAR(w.at({1}), 5.714, 5e-4);
  EXPECT_NEAR(b.item(), 1.571, 5e-4);
}

TEST(WorkedExamples, TwoInputsTwoOutputs) {
  auto x = tg::tensor({{2.0, 3.0}}, tg::Dtype::f64);
  auto t = tg::tensor({{27.0, -30.0}}, tg::Dtype::f64);
  // W is {in, out}: column j holds the weights of output j (rows (3,4) and (5,6) of the text).
  auto W = tg::tensor({{3.0, 5.0}, {4.0, 6.0}}, tg::Dtype::f64).requires_grad(true);
  auto b = tg::tensor({1.0, 2.0}, tg::Dtype::f64).requires_grad(true);
  auto loss = [&] { return tg::sum(tg::square(tg::matmul(x, W) + b - t)) / 2.0; };
  auto y = tg::matmul(x, W) + b;
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{19.0, 30.0}));
  EXPECT_DOUBLE_EQ(loss().item(), 1832.0);
  std::vector<tg::Tensor> params{W, b};
  EXPECT_EQ(train_until_converged(params, loss, 0.01), 79);
  EXPECT_NEAR(W.at({0, 0}), 4.143, 5e-4);
  EXPECT_NEAR(W.at({1, 0}), 5.714, 5e-4);
  EXPECT_NEAR(b.at({0}), 1.571, 5e-4);
  EXPECT_NEAR(W.at({0, 1}), -3.571, 5e-4);
  EXPECT_NEAR(W.at({1, 1}), -6.857, 5e-4);
  EXPECT_NEAR(b.at({1}), -2.286, 5e-4);
}

TEST(WorkedExamples, TwoLayerLinearNetwork) {
  auto x = tg::tensor({{0.05, 0.10}}, tg::Dtype::f64);
  auto t = tg::tensor({{0.01, 0.99}}, tg::Dtype::f64);
  // h1 = x1 w1 + x2 w2 + b1, h2 = x1 w3 + x2 w4 + b2: as {in, out}, W1 = [[w1, w3], [w2, w4]].
  auto W1 = tg::tensor({{0.15, 0.25}, {0.20, 0.30}}, tg::Dtype::f64).requires_grad(true);
  auto b1 = tg::tensor({0.35, 0.35}, tg::Dtype::f64).requires_grad(true);
  auto W2 = tg::tensor({{0.40, 0.50}, {0.45, 0.55}}, tg::Dtype::f64).requires_grad(true);
  auto b2 = tg::tensor({0.60, 0.60}, tg::Dtype::f64).requires_grad(true);
  auto forward = [&] { return tg::matmul(tg::matmul(x, W1) + b1, W2) + b2; };
  auto loss = [&] { return tg::sum(tg::square(forward() - t)) / 2.0; };
  std::vector<tg::Tensor> params{W1, b1, W2, b2};
  EXPECT_EQ(train_until_converged(params, loss, 0.01), 665);
  auto y = forward();
  EXPECT_NEAR(y.at({0, 0}), 0.010, 5e-4);
  EXPECT_NEAR(y.at({0, 1}), 0.990, 5e-4);
}

TEST(WorkedExamples, XorWithSigmoidNetwork) {
  auto X = tg::tensor({{0.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {1.0, 1.0}}, tg::Dtype::f64);
  auto T = tg::tensor({{0.0}, {1.0}, {1.0}, {0.0}}, tg::Dtype::f64);
  tg::Generator gen(1);
  auto W1 = tg::randn({2, 2}, gen, tg::Dtype::f64).requires_grad(true);
  auto b1 = tg::zeros({2}, tg::Dtype::f64).requires_grad(true);
  auto W2 = tg::randn({2, 1}, gen, tg::Dtype::f64).requires_grad(true);
  auto b2 = tg::zeros({1}, tg::Dtype::f64).requires_grad(true);
  std::vector<tg::Tensor> params{W1, b1, W2, b2};
  auto forward = [&] { return tg::sigmoid(tg::matmul(tg::sigmoid(tg::matmul(X, W1) + b1), W2) + b2); };
  for (int epoch = 0; epoch < 5000; ++epoch) {
    tg::sum(tg::square(forward() - T)).backward();
    descend(params, 0.5);
  }
  auto y = forward();
  EXPECT_LT(y.at({0, 0}), 0.5);
  EXPECT_GT(y.at({1, 0}), 0.5);
  EXPECT_GT(y.at({2, 0}), 0.5);
  EXPECT_LT(y.at({3, 0}), 0.5);
}

TEST(WorkedExamples, NumericalDifferentiationMatchesBackprop) {
  auto f1 = [](const std::vector<tg::Tensor>& in) { return tg::square(in[0]); };
  EXPECT_NEAR(tg::numerical_grad(f1, {tg::tensor(3.0, tg::Dtype::f64)})[0].item(), 6.0, 1e-6);

  auto f2 = [](const std::vector<tg::Tensor>& in) {
    const auto& x = in[0];
    const auto& y = in[1];
    return 2.0 * x + 3.0 * x * y + tg::pow(y, 3.0);
  };
  std::vector<tg::Tensor> xy{tg::tensor(1.0, tg::Dtype::f64), tg::tensor(2.0, tg::Dtype::f64)};
  auto g2 = tg::numerical_grad(f2, xy);
  EXPECT_NEAR(g2[0].item(), 8.0, 1e-6);
  EXPECT_NEAR(g2[1].item(), 15.0, 1e-6);

  // f(w, x, y, z) = wx + xyz + 3w + zy^2, with (w, x, y, z) read from [[1, 2], [3, 4]].
  auto f4 = [](const std::vector<tg::Tensor>& in) {
    auto m = in[0];
    auto w = tg::reshape(m, {4});
    auto pick = [&](int i) { return tg::sum(w * tg::one_hot({i}, 4, tg::Dtype::f64)); };
    auto W = pick(0), X = pick(1), Y = pick(2), Z = pick(3);
    return W * X + X * Y * Z + 3.0 * W + Z * tg::square(Y);
  };
  auto m = tg::tensor({{1.0, 2.0}, {3.0, 4.0}}, tg::Dtype::f64);
  auto numeric = tg::numerical_grad(f4, {m})[0].to_vector<double>();
  std::vector<double> expected{5, 13, 32, 15};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(numeric[i], expected[i], 1e-5);
  auto leaf = m.clone().requires_grad(true);
  f4({leaf}).backward();
  EXPECT_EQ(leaf.grad().to_vector<double>(), expected);

  auto a = tg::tensor(1.0, tg::Dtype::f64).requires_grad(true), b = tg::tensor(2.0, tg::Dtype::f64).requires_grad(true);
  f2({a, b}).backward();
  EXPECT_DOUBLE_EQ(a.grad().item(), 8.0);
  EXPECT_DOUBLE_EQ(b.grad().item(), 15.0);
}
