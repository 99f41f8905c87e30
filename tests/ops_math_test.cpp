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

// ---- the edges where PyTorch's behaviour is the reference (issue 26, items 8 to 15) ----

TEST(OpsMath, LossesGiveTargetsThatRequireGradientsTheirGradient) {
  const tg::Tensor logits = tg::from_vector(std::vector<double>{1, 2, 3, -1, 0, 4}, {2, 3}, f64);
  tg::Tensor t = tg::softmax(tg::from_vector(std::vector<double>{0.5, -1, 2, 0, 0, 1}, {2, 3}, f64), 1).detach();
  t.requires_grad(true);
  tg::softmax_cross_entropy(logits, t).backward();
  ASSERT_TRUE(t.has_grad()) << "the targets were left without a gradient";
  // libtorch: -log_softmax(logits) / batch, for the mean over the batch.
  const std::vector<double> want = (tg::log_softmax(logits, 1) * -0.5).to_vector<double>(), got = t.grad().to_vector<double>();
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-15) << "element " << k;
  // Both variables at once, checked against central differences.
  tg::Tensor x = logits.clone().requires_grad(true), u = t.detach().clone().requires_grad(true);
  const tg::GradcheckReport r = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(in[0], in[1]); }, {x, u});
  EXPECT_TRUE(r.ok) << r;
  // The other losses with a target: mse_loss and binary_cross_entropy_with_logits.
  tg::Tensor y = v({1.0, 2.0}), m = v({0.5, 3.0}).requires_grad(true);
  tg::mse_loss(y, m).backward();
  EXPECT_EQ(m.grad().to_vector<double>(), (std::vector<double>{-0.5, 1.0})) << "d/dt mean((y - t)^2) = -(y - t)";
  tg::Tensor b = v({0.25, 0.75}).requires_grad(true);
  tg::binary_cross_entropy_with_logits(v({2.0, -4.0}), b).backward();
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{-1.0, 2.0})) << "d/dt = -x / n";
}

TEST(OpsMath, StdOverAConstantLaneHasAZeroGradientNotNan) {
  for (tg::Dtype d : {tg::Dtype::f64, tg::Dtype::f32}) {
    // Row 0 is a dead unit: all its values are equal, and std's sqrt sits at 0.
    tg::Tensor x = tg::from_vector(std::vector<double>{2, 2, 2, 1, 2, 4}, {2, 3}, d).requires_grad(true);
    tg::sum(tg::std(x, 1)).backward();
    const std::vector<double> g = x.grad().to_vector<double>();
    EXPECT_EQ(std::vector<double>(g.begin(), g.begin() + 3), (std::vector<double>{0, 0, 0})) << "libtorch: 0";
    for (double e : g) EXPECT_TRUE(std::isfinite(e));
    // A standardisation upstream of a dead unit: no NaN reaches the weight either.
    tg::Tensor w = tg::full({1, 3}, 1.5, d).requires_grad(true);
    const tg::Tensor h = tg::from_vector(std::vector<double>{2, 2, 2, 1, 2, 4}, {2, 3}, d) * w;
    const tg::Tensor z = (h - tg::mean(h, 0, true)) / (tg::std(h, 0, true) + 1e-5);
    tg::sum(tg::square(z)).backward();
    for (double e : w.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(e)) << tg::dtype_name(d);
    // And through a second derivative (the create_graph form of the same rule).
    tg::Tensor c = tg::from_vector(std::vector<double>{3, 3, 3}, {1, 3}, d).requires_grad(true);
    const tg::Tensor gc = tg::grad(tg::sum(tg::std(c, 1)), {c}, {.create_graph = true})[0];
    EXPECT_EQ(gc.to_vector<double>(), (std::vector<double>{0, 0, 0}));
    tg::sum(gc).backward();
    for (double e : c.grad().to_vector<double>()) EXPECT_FALSE(std::isnan(e));
  }
  // batch_norm's square root is of var + eps: a dead channel has a finite gradient there too.
  tg::Tensor bx = tg::from_vector(std::vector<double>{1, 4, 1, -2, 1, 7}, {3, 2}, f64).requires_grad(true);
  tg::Tensor bw = tg::ones({2}, f64).requires_grad(true);
  tg::sum(tg::square(tg::batch_norm(bx, bw, tg::Tensor(), tg::Tensor(), tg::Tensor()))).backward();
  for (double e : bx.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(e));
  for (double e : bw.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(e));
  // var at a constant lane was never NaN (no square root); it stays 0.
  tg::Tensor x = tg::from_vector(std::vector<double>{5, 5}, {1, 2}, f64).requires_grad(true);
  tg::var(x, 1).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0}));
  // One node each, named as called (var was six: sub, sum, div_scalar, square, sum, div_scalar).
  tg::Tensor w2 = tg::ones({2, 3}, f64).requires_grad(true);
  for (const char* op : {"var", "std"}) {
    const auto nodes = tg::Tape::current().nodes_of(op == std::string("var") ? tg::var(w2, 1) : tg::std(w2, 1));
    ASSERT_EQ(nodes.size(), 1u) << op;
    EXPECT_EQ(nodes[0].op, op);
  }
  EXPECT_EQ(message_of([] { tg::std(tg::ones({3, 1}), 1); }),
            "std: axis 1 of [3, 1] has 1 element(s), and a correction of 1 needs more (n - correction must be > 0, and the "
            "correction >= 0)");
}

TEST(OpsMath, NormOfSubnormalsHasTheGradientXOverItsNorm) {
  // 1e-310 is subnormal in float64: g / norm overflows to infinity, x / norm is 1/sqrt(2).
  tg::Tensor x = v({1e-310, -1e-310}).requires_grad(true);
  tg::norm(x).backward();
  const std::vector<double> g = x.grad().to_vector<double>();
  // (The norm itself is subnormal, with about 14 digits.)
  EXPECT_NEAR(g[0], std::sqrt(0.5), 1e-13);
  EXPECT_NEAR(g[1], -std::sqrt(0.5), 1e-13);
  tg::Tensor y = v({3e-320, 4e-320}).requires_grad(true);
  const tg::Tensor gy = tg::grad(tg::norm(y), {y}, {.create_graph = true})[0];  // the recorded form
  EXPECT_NEAR(gy.to_vector<double>()[0], 0.6, 1e-3);  // 3e-320 keeps only a few digits
  EXPECT_TRUE(std::isfinite(gy.to_vector<double>()[1]));
  tg::Tensor f = tg::tensor({1e-40f, 1e-40f}).requires_grad(true);  // float32 subnormals
  tg::norm(f).backward();
  EXPECT_NEAR(f.grad().to_vector<float>()[0], std::sqrt(0.5f), 1e-2f);
}

TEST(OpsMath, NormHasNoSecondDerivativeAtZero) {
  // The decision (docs/higher-order.md): the gradient at 0 is 0 (PyTorch's subgradient), and a
  // second derivative there is NaN, as libtorch's. 0 would be the wrong Hessian of |x|^2 (2 I),
  // and the Hessian of |x| grows without bound near 0: no finite value is right.
  const tg::Tensor zero = tg::zeros({2}, f64);
  const tg::Tensor h = tg::hessian([](const std::vector<tg::Tensor>& in) { return tg::norm(in[0]); }, {zero});
  for (double e : h.to_vector<double>()) EXPECT_TRUE(std::isnan(e)) << h;
  const tg::Tensor h2 = tg::hessian([](const std::vector<tg::Tensor>& in) { return tg::square(tg::norm(in[0])); }, {zero});
  for (double e : h2.to_vector<double>()) EXPECT_TRUE(std::isnan(e)) << "never a silent 0 for |x|^2: " << h2;
  // What to write instead for |x|^2: sum(square(x)), smooth everywhere, whose Hessian is 2 I.
  const tg::Tensor h3 = tg::hessian([](const std::vector<tg::Tensor>& in) { return tg::sum(tg::square(in[0])); }, {zero});
  EXPECT_EQ(h3.to_vector<double>(), (std::vector<double>{2, 0, 0, 2}));
  // Away from 0 the second derivative is the true one: (I - x x^T / |x|^2) / |x| at x = (3, 4).
  const tg::Tensor h4 = tg::hessian([](const std::vector<tg::Tensor>& in) { return tg::norm(in[0]); }, {v({3.0, 4.0})});
  const std::vector<double> want = {16.0 / 125, -12.0 / 125, -12.0 / 125, 9.0 / 125}, got = h4.to_vector<double>();
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(got[k], want[k], 1e-15);
  // The first derivative at 0 stays 0 under create_graph too.
  tg::Tensor z = tg::zeros({3}, f64).requires_grad(true);
  EXPECT_EQ(tg::grad(tg::norm(z), {z}, {.create_graph = true})[0].to_vector<double>(), (std::vector<double>{0, 0, 0}));
}

TEST(OpsMath, PiecewiseOpsFollowPyTorchAtNan) {
  // clamp: 0 at NaN (clamp_backward masks with lo <= x <= hi, which NaN fails).
  tg::Tensor x = v({-3.0, 0.5, NAN}).requires_grad(true);
  tg::sum(tg::clamp(x, -1.0, 1.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 0}));
  tg::Tensor x2 = v({NAN}).requires_grad(true);  // and in the recorded form
  EXPECT_EQ(tg::grad(tg::sum(tg::clamp(x2, -1.0, 1.0)), {x2}, {.create_graph = true})[0].item(), 0.0);
  // relu: the upstream passes at NaN (threshold_backward masks with x <= 0); leaky_relu: its slope.
  tg::Tensor r = v({NAN, -1.0, 2.0}).requires_grad(true);
  tg::sum(tg::relu(r)).backward();
  EXPECT_EQ(r.grad().to_vector<double>(), (std::vector<double>{1, 0, 1}));
  tg::Tensor l = v({NAN}).requires_grad(true);
  tg::sum(tg::leaky_relu(l, 0.1)).backward();
  EXPECT_EQ(l.grad().item(), 0.1);
  // maximum and minimum: neither operand loses to a NaN, so both get the whole gradient.
  for (bool max : {true, false}) {
    tg::Tensor a = v({NAN, 1.0, NAN}).requires_grad(true), b = v({1.0, NAN, NAN}).requires_grad(true);
    tg::sum(max ? tg::maximum(a, b) : tg::minimum(a, b)).backward();
    EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{1, 1, 1})) << (max ? "maximum" : "minimum");
    EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{1, 1, 1})) << (max ? "maximum" : "minimum");
    tg::Tensor c = v({NAN, 1.0}).requires_grad(true), e = v({1.0, 1.0}).requires_grad(true);
    const auto gs = tg::grad(tg::sum(max ? tg::maximum(c, e) : tg::minimum(c, e)), {c, e}, {.create_graph = true});
    EXPECT_EQ(gs[0].to_vector<double>(), (std::vector<double>{1, 0.5}));
    EXPECT_EQ(gs[1].to_vector<double>(), (std::vector<double>{1, 0.5}));
  }
  // max and min along an axis, and argmax: the first NaN of the lane (PyTorch's max.dim stops there).
  tg::Tensor m = tg::from_vector(std::vector<double>{1, NAN, 3, NAN}, {1, 4}, f64).requires_grad(true);
  EXPECT_TRUE(std::isnan(tg::max(m, 1).item()));
  tg::sum(tg::max(m, 1)).backward();
  EXPECT_EQ(m.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0}));
  tg::Tensor n = tg::from_vector(std::vector<double>{1, NAN, -3, NAN}, {1, 4}, f64).requires_grad(true);
  tg::sum(tg::min(n, 1)).backward();
  EXPECT_EQ(n.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0}));
  EXPECT_EQ(tg::argmax(m.detach(), 1).item(), 1.0);
}

TEST(OpsMath, MaxAndMinOverAllOrSeveralAxes) {
  // [[[1, 5, 2], [7, 0, 3]], [[4, 9, 8], [6, -2, 5]]]
  const tg::Tensor x = tg::from_vector(std::vector<double>{1, 5, 2, 7, 0, 3, 4, 9, 8, 6, -2, 5}, {2, 2, 3}, f64);
  EXPECT_EQ(tg::max(x).item(), 9.0);
  EXPECT_EQ(tg::max(x).shape(), tg::Shape{});
  EXPECT_EQ(tg::min(x).item(), -2.0);
  EXPECT_EQ(tg::max(x, std::vector<int64_t>{0, 2}).to_vector<double>(), (std::vector<double>{9, 7}));
  EXPECT_EQ(tg::min(x, std::vector<int64_t>{-1, 0}, true).shape(), (tg::Shape{1, 2, 1}));
  EXPECT_EQ(tg::min(x, std::vector<int64_t>{-1, 0}, true).to_vector<double>(), (std::vector<double>{1, -2}));
  EXPECT_EQ(tg::max(x, std::vector<int64_t>{1}).to_vector<double>(), tg::max(x, 1).to_vector<double>()) << "one axis";
  EXPECT_EQ(tg::max(x, std::vector<int64_t>{}).to_vector<double>(), x.to_vector<double>()) << "no axis reduces nothing";
  // Gradients: to the extreme of each group; tied extremes share it equally (x.max() and amax).
  tg::Tensor a = x.clone().requires_grad(true);
  tg::sum(tg::max(a, std::vector<int64_t>{0, 2})).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}));
  tg::Tensor ties = v({3.0, 1.0, 3.0, 3.0}).requires_grad(true);
  tg::max(ties).backward();
  EXPECT_EQ(ties.grad().to_vector<double>(), (std::vector<double>{1.0 / 3, 0, 1.0 / 3, 1.0 / 3}));
  // NaN: the result is NaN, and the NaNs share the gradient (x.max() in PyTorch).
  tg::Tensor nan = v({1.0, NAN, 5.0, NAN}).requires_grad(true);
  const tg::Tensor mn = tg::min(nan);
  EXPECT_TRUE(std::isnan(mn.item()));
  mn.backward();
  EXPECT_EQ(nan.grad().to_vector<double>(), (std::vector<double>{0, 0.5, 0, 0.5}));
  // One node named after the call, which gradcheck checks away from ties.
  tg::Tensor b = x.clone().requires_grad(true);
  const tg::Tensor y = tg::min(b, std::vector<int64_t>{0, 1});
  const auto nodes = tg::Tape::current().nodes_of(y);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].op, "min");
  // min along one axis too (it was -max(-x), three nodes named neg, max, neg).
  const auto along = tg::Tape::current().nodes_of(tg::min(b, 1));
  ASSERT_EQ(along.size(), 1u);
  EXPECT_EQ(along[0].op, "min");
  const tg::GradcheckReport r = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return tg::max(in[0]); }, {b});
  EXPECT_TRUE(r.ok) << r;
  // A three-way tie: each gets 1/3, where central differences see 1/2. The kink is declared, so
  // gradcheck reports it inconclusive rather than failed.
  const tg::GradcheckReport tie = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return tg::max(in[0]); },
                                                {v({2.0, 2.0, 2.0, 1.0}).requires_grad(true)});
  EXPECT_TRUE(tie.inconclusive) << tie;
  // Errors name the op, as sum's do.
  EXPECT_EQ(message_of([&] { tg::max(x, std::vector<int64_t>{2, -1}); }), "max: axis -1 is listed twice (shape [2, 2, 3])");
  EXPECT_NE(message_of([] { tg::min(tg::zeros({0, 2}, f64)); }).find("min: the axes reduced of [0, 2] hold no elements"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tg::max(x, std::vector<int64_t>{3}); }).find("max: axis 3"), std::string::npos);
}
