// The math-library, choosing and statistics ops on values a user checks by hand: the stable forms
// at their edges, the subgradients and tie rules the docs promise, and their errors. (Every op
// is also gradchecked whole and per node by the registry loop, Registry.EveryOpPassesItsChecks.)
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {
const auto f64 = tg::Dtype::f64;
tg::Tensor v(std::vector<double> x) { return tg::from_vector(x, {static_cast<int64_t>(x.size())}, f64); }
}  // namespace

TEST(OpsMath, Log1pAndExpm1KeepTheirDigitsNearZero) {
  EXPECT_EQ(tg::log1p(v({1e-12})).item(), std::log1p(1e-12));
  EXPECT_NE(tg::log1p(v({1e-12})).item(), std::log(1 + 1e-12)) << "the naive form loses the digits";
  EXPECT_EQ(tg::expm1(v({1e-12})).item(), std::expm1(1e-12));
  // float32 too: log1p(1e-7f) is 1e-7 to float precision, where log(1 + 1e-7f) is off by 20%.
  EXPECT_NEAR(tg::log1p(tg::tensor({1e-7f})).to_vector<float>()[0], 1e-7f, 1e-13f);
}

TEST(OpsMath, LogsumexpIsExactAtLargeOffsetsAndForOneDominantTerm) {
  EXPECT_NEAR(tg::logsumexp(tg::from_vector(std::vector<double>{1e4, 1e4}, {1, 2}, f64), 1).item(),
              1e4 + std::log(2.0), 1e-11);
  const double lse = tg::logsumexp(tg::from_vector(std::vector<double>{0.0, -40.0}, {1, 2}, f64), 1).item();
  EXPECT_EQ(lse, std::log1p(std::exp(-40.0))) << "one dominant term: the others' share, not 0";
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(tg::logsumexp(tg::from_vector(std::vector<double>{-inf, -inf}, {1, 2}, f64), 1).item(), -inf);
  EXPECT_TRUE(std::isnan(tg::logsumexp(tg::from_vector(std::vector<double>{1.0, NAN}, {1, 2}, f64), 1).item()));
}

TEST(OpsMath, ProdIsExactWithZeros) {
  tg::Tensor x = v({2.0, 0.0, 3.0, 4.0}).requires_grad(true);
  tg::prod(x, 0).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 24, 0, 0})) << "the zero's gradient is 2*3*4";
  tg::Tensor y = v({0.0, 5.0, 0.0}).requires_grad(true);
  tg::prod(y, 0).backward();
  EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{0, 0, 0})) << "two zeros: every gradient is 0, none NaN";
}

TEST(OpsMath, MaximumAndMinimumSplitTiesAndPropagateNan) {
  tg::Tensor a = v({1.0, 2.0, 3.0}).requires_grad(true), b = v({1.0, 5.0, 0.0}).requires_grad(true);
  tg::sum(tg::maximum(a, b)).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.5, 0, 1}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0.5, 1, 0}));
  EXPECT_TRUE(std::isnan(tg::maximum(v({NAN}), v({1.0})).item()));
  EXPECT_TRUE(std::isnan(tg::maximum(v({1.0}), v({NAN})).item()));
  EXPECT_TRUE(std::isnan(tg::minimum(v({NAN}), v({1.0})).item()));
  EXPECT_TRUE(std::isnan(tg::minimum(v({1.0}), v({NAN})).item()));
  EXPECT_EQ(tg::minimum(v({-1.0, 4.0}), v({2.0, 3.0})).to_vector<double>(), (std::vector<double>{-1, 3}));
}

TEST(OpsMath, ClampPassesTheGradientInsideItsBoundsOnly) {
  tg::Tensor x = v({-3.0, -1.0, 0.5, 1.0, 7.0, NAN}).requires_grad(true);
  tg::Tensor y = tg::clamp(x, -1.0, 1.0);
  const std::vector<double> out = y.to_vector<double>();
  EXPECT_EQ(std::vector<double>(out.begin(), out.end() - 1), (std::vector<double>{-1, -1, 0.5, 1, 1}));
  EXPECT_TRUE(std::isnan(out.back())) << "clamp never turns NaN into a number";
  tg::Tensor z = v({-3.0, -1.0, 0.5, 1.0, 7.0}).requires_grad(true);
  tg::sum(tg::clamp(z, -1.0, 1.0)).backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0, 1, 1, 1, 0})) << "the bounds themselves pass it";
  EXPECT_EQ(message_of([] { tg::clamp(v({1.0}), 2.0, 1.0); }), "clamp: lo must be <= hi, got lo 2 and hi 1 (for a tensor of shape [1])");
}

TEST(OpsMath, WhereSendsEachGradientToTheSideItChose) {
  tg::Tensor mask = tg::from_vector(std::vector<double>{1, 0}, {2, 1}, f64);
  tg::Tensor a = v({10.0, 20.0, 30.0}).requires_grad(true), b = tg::tensor(-1.0, f64).requires_grad(true);
  tg::Tensor y = tg::where(mask, a, b);  // [2, 3]: row 0 from a, row 1 all b
  EXPECT_EQ(y.shape(), (tg::Shape{2, 3}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{10, 20, 30, -1, -1, -1}));
  tg::sum(y).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(b.grad().item(), 3.0) << "the broadcast b collects all three of its uses";
  EXPECT_NE(message_of([] { tg::where(tg::ones({2}), tg::ones({3}), tg::ones({2})); }).find("where: shapes"), std::string::npos);
}

TEST(OpsMath, VarStdAndNormOnKnownValues) {
  const tg::Tensor x = tg::from_vector(std::vector<double>{1, 2, 3, 4}, {1, 4}, f64);
  EXPECT_DOUBLE_EQ(tg::var(x, 1).item(), 5.0 / 3.0) << "Bessel's correction by default";
  EXPECT_DOUBLE_EQ(tg::var(x, 1, false, 0).item(), 1.25) << "the population variance";
  EXPECT_DOUBLE_EQ(tg::std(x, 1, false, 0).item(), std::sqrt(1.25));
  EXPECT_EQ(message_of([] { tg::var(tg::ones({3, 1}), 1); }),
            "var: axis 1 of [3, 1] has 1 element(s), and a correction of 1 needs more (n - correction must be > 0, and the "
            "correction >= 0)");
  // The norm scales by the largest element: no overflow at 1e200, no underflow at 1e-200.
  EXPECT_DOUBLE_EQ(tg::norm(v({3e200, 4e200})).item(), 5e200);
  EXPECT_DOUBLE_EQ(tg::norm(v({3e-200, 4e-200})).item(), 5e-200);
  EXPECT_EQ(tg::norm(v({1.0, -std::numeric_limits<double>::infinity()})).item(), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(tg::norm(v({NAN, 1.0})).item()));
  tg::Tensor zero = tg::zeros({3}, f64).requires_grad(true);
  tg::norm(zero).backward();
  EXPECT_EQ(zero.grad().to_vector<double>(), (std::vector<double>{0, 0, 0})) << "the subgradient at 0, not NaN";
}

TEST(OpsMath, SumAndMeanOverSeveralAxes) {
  const tg::Tensor x = tg::reshape(tg::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {6}, f64), {1, 2, 3});
  EXPECT_EQ(tg::sum(x, std::vector<int64_t>{0, 2}).to_vector<double>(), (std::vector<double>{6, 15}));
  EXPECT_EQ(tg::sum(x, std::vector<int64_t>{-1, 0}, true).shape(), (tg::Shape{1, 2, 1}));
  EXPECT_EQ(tg::mean(x, std::vector<int64_t>{1, 2}).to_vector<double>(), (std::vector<double>{3.5}));
  EXPECT_EQ(tg::sum(x, std::vector<int64_t>{}).shape(), x.shape()) << "no axis: nothing summed, as NumPy";
  EXPECT_EQ(message_of([&] { tg::sum(x, std::vector<int64_t>{2, -1}); }), "sum: axis -1 is listed twice (shape [1, 2, 3])");
  EXPECT_EQ(tg::cumsum(v({1, 2, 3}), 0).to_vector<double>(), (std::vector<double>{1, 3, 6}));
  EXPECT_EQ(tg::min(tg::from_vector(std::vector<double>{3, 1, 2, 1}, {2, 2}, f64), 1).to_vector<double>(),
            (std::vector<double>{1, 1}));
}

TEST(OpsMath, SignAndTheSmoothActivationsAtTheirEdges) {
  EXPECT_EQ(tg::sign(v({-2.0, 0.0, 3.0})).to_vector<double>(), (std::vector<double>{-1, 0, 1}));
  EXPECT_TRUE(std::isnan(tg::sign(v({NAN})).item()));
  EXPECT_EQ(tg::softplus(tg::tensor({100.0f})).to_vector<float>()[0], 100.0f) << "no overflow in float32";
  EXPECT_EQ(tg::silu(v({-800.0})).item(), -0.0) << "x sigmoid(x) underflows to 0 (e^800 is not computed)";
  EXPECT_EQ(tg::gelu(v({0.0})).item(), 0.0);
  EXPECT_EQ(tg::elu(v({-1e-20}), 1.0).item(), -1e-20) << "expm1: exact near 0";
}
