// Stable formulations at extreme inputs, and the documented subgradients at kinks.
#include <gtest/gtest.h>

#include <cmath>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
void expect_all_finite(const tg::Tensor& t, const std::string& what) {
  for (double v : t.to_vector<double>()) EXPECT_TRUE(std::isfinite(v)) << what << " has " << v;
}
// Extreme magnitudes per dtype: 1e4 for float32, 1e300 for float64.
struct Case {
  tg::Dtype dtype;
  double big;
};
const Case kCases[] = {{tg::Dtype::f32, 1e4}, {tg::Dtype::f64, 1e300}};
}  // namespace

TEST(Stability, SigmoidAndItsGradientAtExtremes) {
  for (const Case& c : kCases) {
    auto x = tg::tensor({-c.big, -50.0, 0.0, 50.0, c.big}, c.dtype).requires_grad(true);
    auto y = tg::sigmoid(x);
    auto v = y.to_vector<double>();
    EXPECT_EQ(v[0], 0.0);
    EXPECT_EQ(v[2], 0.5);
    EXPECT_EQ(v[4], 1.0);
    tg::sum(y).backward();
    expect_all_finite(x.grad(), "sigmoid gradient");
    EXPECT_EQ(x.grad().at({0}), 0.0);
  }
}

TEST(Stability, LogSigmoidIsLinearFarLeftAndZeroFarRight) {
  for (const Case& c : kCases) {
    auto x = tg::tensor({-c.big, c.big}, c.dtype).requires_grad(true);
    auto y = tg::log_sigmoid(x);
    EXPECT_DOUBLE_EQ(y.at({0}), -c.big);  // 1e4 is exact in float32
    EXPECT_EQ(y.at({1}), 0.0);
    tg::sum(y).backward();
    EXPECT_EQ(x.grad().at({0}), 1.0);
    EXPECT_EQ(x.grad().at({1}), 0.0);
  }
}

TEST(Stability, SoftmaxFamilyAndCrossEntropyWithLogitsFarApart) {
  for (const Case& c : kCases) {
    auto logits = tg::tensor({{c.big, -c.big, 0.0}, {0.0, c.big, -c.big}}, c.dtype).requires_grad(true);
    expect_all_finite(tg::softmax(logits, 1), "softmax");
    expect_all_finite(tg::log_softmax(logits, 1), "log_softmax");
    auto loss = tg::softmax_cross_entropy(logits, std::vector<int64_t>{1, 1});  // row 0 is wrong by 2 big
    expect_all_finite(loss, "cross entropy");
    EXPECT_NEAR(loss.item() / c.big, 1.0, 1e-6);  // (2 big + 0) / batch 2
    loss.backward();
    expect_all_finite(logits.grad(), "cross entropy gradient");
    EXPECT_NEAR(logits.grad().at({0, 0}), 0.5, 1e-6);   // (1 - 0) / 2
    EXPECT_NEAR(logits.grad().at({0, 1}), -0.5, 1e-6);  // (0 - 1) / 2
  }
}

TEST(Stability, BinaryCrossEntropyWithLogitsAtExtremes) {
  for (const Case& c : kCases) {
    auto x = tg::tensor({c.big, -c.big, c.big}, c.dtype).requires_grad(true);
    auto t = tg::tensor({0.0, 1.0, 1.0}, c.dtype);
    auto loss = tg::binary_cross_entropy_with_logits(x, t);
    EXPECT_NEAR(loss.item() / c.big, 2.0 / 3.0, 1e-6);
    loss.backward();
    auto g = x.grad().to_vector<double>();
    EXPECT_NEAR(g[0], 1.0 / 3, 1e-6);
    EXPECT_NEAR(g[1], -1.0 / 3, 1e-6);
    EXPECT_NEAR(g[2], 0.0, 1e-6);
  }
}

// Documented behaviour near zero: log(0) = -inf with gradient +inf; sqrt(0) = 0 with gradient +inf.
TEST(Stability, LogAndSqrtAtZeroFollowIeee) {
  auto x = tg::tensor({0.0}, tg::Dtype::f64).requires_grad(true);
  auto y = tg::log(x);
  EXPECT_EQ(y.item(), -INFINITY);
  y.backward();
  EXPECT_EQ(x.grad().item(), INFINITY);
  auto z = tg::tensor({0.0}, tg::Dtype::f64).requires_grad(true);
  auto s = tg::sqrt(z);
  EXPECT_EQ(s.item(), 0.0);
  s.backward();
  EXPECT_EQ(z.grad().item(), INFINITY);
  auto tiny = tg::tensor({1e-300}, tg::Dtype::f64).requires_grad(true);
  tg::log(tiny).backward();
  EXPECT_DOUBLE_EQ(tiny.grad().item(), 1e300);
}

// pow with a negative base: integer exponents are exact, fractional ones give NaN (as std::pow).
TEST(Stability, PowWithNegativeBase) {
  auto x = tg::tensor({-2.0}, tg::Dtype::f64).requires_grad(true);
  auto y = tg::pow(x, 3.0);
  EXPECT_EQ(y.item(), -8.0);
  y.backward();
  EXPECT_EQ(x.grad().item(), 12.0);
  EXPECT_TRUE(std::isnan(tg::pow(tg::tensor({-2.0}, tg::Dtype::f64), 0.5).item()));
}

// Kinks: the subgradient each op uses, as its header documents.
TEST(Stability, SubgradientsAtKinks) {
  auto grad_at_zero = [](auto op) {
    auto x = tg::tensor({0.0}, tg::Dtype::f64).requires_grad(true);
    op(x).backward();
    return x.grad().item();
  };
  EXPECT_EQ(grad_at_zero([](const tg::Tensor& x) { return tg::sum(tg::relu(x)); }), 0.0);
  EXPECT_EQ(grad_at_zero([](const tg::Tensor& x) { return tg::sum(tg::abs(x)); }), 0.0);
  EXPECT_EQ(grad_at_zero([](const tg::Tensor& x) { return tg::sum(tg::leaky_relu(x, 0.1)); }), 0.1);
  // max with ties: the whole gradient goes to the first maximal element.
  auto m = tg::tensor({{1.0, 3.0, 3.0}}, tg::Dtype::f64).requires_grad(true);
  tg::sum(tg::max(m, 1)).backward();
  EXPECT_EQ(m.grad().to_vector<double>(), (std::vector<double>{0.0, 1.0, 0.0}));
  EXPECT_EQ(tg::argmax(m, 1).item(), 1.0);
}

// Log-sum-exp stays relative to the maximum: in float32, [c, c] gives ln 2 at every offset c
// (re-adding the maximum gave 0 from c = 1e8 on), against a long double reference.
TEST(Stability, SoftmaxCrossEntropyAtLargeOffsetsInFloat32) {
  for (double c = 1; c <= 1e8; c *= 10)
    for (double gap : {0.0, 0.5, 3.0}) {
      const float a = static_cast<float>(c), b = static_cast<float>(c) + static_cast<float>(gap);
      tg::Tensor logits = tg::from_vector(std::vector<float>{a, b}, {1, 2}, tg::Dtype::f32);
      const long double d = static_cast<long double>(b) - static_cast<long double>(a);
      const long double want = std::log1p(std::exp(d));  // -log softmax(row)[0]
      const double got = tg::softmax_cross_entropy(logits, std::vector<int64_t>{0}).item();
      EXPECT_NEAR(got, static_cast<double>(want), 4e-7 * static_cast<double>(want)) << "offset " << c << " gap " << gap;
      const double lsm = tg::log_softmax(logits, 1).at({0, 0});
      EXPECT_NEAR(-lsm, static_cast<double>(want), 4e-7 * static_cast<double>(want)) << "log_softmax, offset " << c;
    }
}

// A confident prediction's loss, log1p(exp(-d)), down to 1e-12, to float64's last digits.
TEST(Stability, ConfidentLossesKeepTheirDigitsInFloat64) {
  for (double d = 2; d <= 28; d += 2) {
    const long double want = std::log1p(std::exp(-static_cast<long double>(d)));
    tg::Tensor logits = tg::tensor({{0.0, -d}}, tg::Dtype::f64);
    const double got = tg::softmax_cross_entropy(logits, std::vector<int64_t>{0}).item();
    EXPECT_NEAR(got, static_cast<double>(want), 4e-16 * static_cast<double>(want)) << "loss " << static_cast<double>(want);
    const double lsm = tg::log_softmax(logits, 1).at({0, 0});
    EXPECT_NEAR(-lsm, static_cast<double>(want), 4e-16 * static_cast<double>(want)) << "log_softmax " << static_cast<double>(want);
  }
}

// float32 reductions accumulate in float64: a float loop stops growing at 2^24, and the mean of a
// Fashion-MNIST-sized U[0, 1) tensor came out 0.357.
TEST(Stability, Float32SumsAndMeansOfManyElementsKeepTheirDigits) {
  const int64_t n = int64_t{1} << 25;
  EXPECT_EQ(tg::sum(tg::ones({n})).item(), static_cast<double>(n));
  EXPECT_EQ(tg::sum(tg::ones({n, 1}), 0).item(), static_cast<double>(n)) << "sum over an axis";
  EXPECT_EQ(tg::sum(tg::ones({n / 4, 4}), 0).at({0}), static_cast<double>(n / 4)) << "sum over an outer axis";
  EXPECT_EQ(tg::sum_to(tg::ones({n / 2, 2}), tg::Shape{2}).at({1}), static_cast<double>(n / 2)) << "sum_to";
  tg::Generator gen(11);
  tg::Tensor u = tg::rand({60000, 784}, gen);
  EXPECT_NEAR(tg::mean(u).item(), 0.5, 1e-3);
  EXPECT_NEAR(tg::mse_loss(u, tg::zeros({60000, 784})).item(), 1.0 / 3.0, 1e-3);
}

// Division by a scalar is true division: the correctly rounded quotient, and no overflow of
// 1 / s for a subnormal s; the divisor's gradient is -g (a / b) / b, finite where it is
// representable even though b * b underflows.
TEST(Stability, DivisionIsTrueDivision) {
  EXPECT_EQ(static_cast<float>((tg::tensor(2.5) / 3.0).item()), 2.5f / 3.0f);
  EXPECT_EQ((tg::tensor(0.0) / 1e-39).item(), 0.0);
  tg::Tensor a = tg::tensor({1e-30}).requires_grad(true), b = tg::tensor({1e-25}).requires_grad(true);
  tg::sum(a / b).backward();
  const double gb = b.grad().item();
  EXPECT_TRUE(std::isfinite(gb)) << gb;
  EXPECT_NEAR(gb, -1e20, 1e14);
  tg::Tensor x = tg::tensor({1e-25}).requires_grad(true);
  tg::sum(1e-30 / x).backward();
  EXPECT_NEAR(x.grad().item(), -1e20, 1e14) << "rdiv_scalar";
}
