#include <gtest/gtest.h>

#include <cmath>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
std::vector<double> values(const tg::Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST(NnLinear, WeightIsInByOutAndBiasIsOut) {
  tg::nn::Linear lin(3, 2);
  EXPECT_EQ(lin.weight().shape(), (tg::Shape{3, 2}));
  EXPECT_EQ(lin.bias().shape(), (tg::Shape{2}));
  EXPECT_EQ(lin.weight().dtype(), tg::Dtype::f32);
  EXPECT_TRUE(lin.weight().requires_grad() && lin.weight().is_leaf());
  EXPECT_TRUE(lin.bias().requires_grad());
  tg::nn::Linear no_bias(3, 2, {.bias = false});
  EXPECT_FALSE(no_bias.bias().defined());
  EXPECT_EQ(no_bias.parameters().size(), 1u);
  tg::nn::Linear wide(3, 2, {.bias = true, .dtype = tg::Dtype::f64});
  EXPECT_EQ(wide.weight().dtype(), tg::Dtype::f64);
  EXPECT_EQ(wide.bias().dtype(), tg::Dtype::f64);
}

TEST(NnLinear, ForwardIsXWPlusBOnKnownNumbers) {
  tg::nn::Linear lin(2, 3, {.dtype = tg::Dtype::f64});
  lin.weight() = tg::tensor({{1.0, 0.0, -1.0}, {2.0, 1.0, 0.0}}, tg::Dtype::f64).requires_grad(true);
  lin.bias() = tg::tensor({0.5, -0.5, 1.0}, tg::Dtype::f64).requires_grad(true);
  auto x = tg::tensor({{1.0, 2.0}, {3.0, 4.0}}, tg::Dtype::f64);
  auto y = lin(x);
  ASSERT_EQ(y.shape(), (tg::Shape{2, 3}));
  // [1 2] W = [5 2 -1], [3 4] W = [11 4 -3]; plus b on every row.
  EXPECT_EQ(values(y), (std::vector<double>{5.5, 1.5, 0.0, 11.5, 3.5, -2.0}));
  // A single sample of rank 1 gives a rank-1 output.
  EXPECT_EQ(values(lin(tg::tensor({1.0, 2.0}, tg::Dtype::f64))), (std::vector<double>{5.5, 1.5, 0.0}));
  // Leading dimensions are kept: {2, 1, 2} -> {2, 1, 3}.
  auto y3 = lin(tg::tensor({{{1.0, 2.0}}, {{3.0, 4.0}}}, tg::Dtype::f64));
  EXPECT_EQ(y3.shape(), (tg::Shape{2, 1, 3}));
  EXPECT_EQ(values(y3), values(y));
  // d sum(Y) / db_j = number of rows.
  tg::sum(y).backward();
  EXPECT_EQ(values(lin.bias().grad()), (std::vector<double>{2.0, 2.0, 2.0}));
}

TEST(NnLinear, EveryParameterPassesGradcheck) {
  for (bool bias : {true, false}) {
    tg::nn::Linear lin(4, 3, {.bias = bias, .dtype = tg::Dtype::f64});
    tg::Generator gen(1);
    auto x = tg::randn({5, 4}, gen, tg::Dtype::f64);
    std::vector<tg::Tensor> inputs{x, lin.weight()};
    if (bias) inputs.push_back(lin.bias());
    auto fn = [&](const std::vector<tg::Tensor>& in) {
      lin.weight() = in[1];
      if (bias) lin.bias() = in[2];
      return tg::tanh(lin(in[0]));
    };
    auto report = tg::gradcheck(fn, inputs);
    EXPECT_TRUE(report.ok) << "bias=" << bias << "\n" << report;
    EXPECT_FALSE(report.promoted);
  }
  // Rank-3 input goes through reshape: check that path too.
  tg::nn::Linear lin(3, 2, {.dtype = tg::Dtype::f64});
  tg::Generator gen(2);
  auto fn = [&](const std::vector<tg::Tensor>& in) {
    lin.weight() = in[1];
    lin.bias() = in[2];
    return lin(in[0]);
  };
  auto report = tg::gradcheck(fn, {tg::randn({2, 2, 3}, gen, tg::Dtype::f64), lin.weight(), lin.bias()});
  EXPECT_TRUE(report.ok) << report;
}

TEST(NnLinear, WrongInputNamesTheLayerAndShapes) {
  tg::nn::Linear lin(3, 2);
  try {
    lin(tg::zeros({4, 5}));
    FAIL() << "expected tg::Error";
  } catch (const tg::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Linear(in=3, out=2"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 5]"), std::string::npos) << m;
    EXPECT_NE(m.find("[3, 2]"), std::string::npos) << m;
  }
  EXPECT_THROW(lin(tg::zeros({4, 3}, tg::Dtype::f64)), tg::Error);  // dtype differs from the weight
  EXPECT_THROW(lin(tg::tensor(1.0)), tg::Error);                    // rank 0
  EXPECT_THROW(tg::nn::Linear(0, 2), tg::Error);
}

TEST(NnLinear, DefaultInitIsPyTorchsUniformBound) {
  const int64_t in = 400;
  tg::nn::Linear lin(in, 300);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // PyTorch: U(-1/sqrt(in), 1/sqrt(in))
  double lo = 0, hi = 0;
  for (double w : values(lin.weight())) {
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.99 * bound);  // 120000 draws reach the ends
  EXPECT_GT(hi, 0.99 * bound);
  for (double b : values(lin.bias())) EXPECT_LE(std::abs(b), bound);
  // Other choices leave the bias at zero.
  tg::nn::Linear x(in, 300, {.init = tg::nn::LinearInit::xavier_uniform});
  for (double b : values(x.bias())) EXPECT_EQ(b, 0.0);
}

TEST(NnLinear, SameSeedGivesTheSameLayerBitForBit) {
  tg::Generator g1(5), g2(5), g3(6);
  tg::nn::Linear a(8, 4, {.generator = &g1}), b(8, 4, {.generator = &g2}), c(8, 4, {.generator = &g3});
  EXPECT_EQ(a.weight().to_vector<float>(), b.weight().to_vector<float>());
  EXPECT_EQ(a.bias().to_vector<float>(), b.bias().to_vector<float>());
  EXPECT_NE(a.weight().to_vector<float>(), c.weight().to_vector<float>());
  tg::nn::manual_seed(11);
  tg::nn::Linear d(8, 4);
  tg::nn::manual_seed(11);
  tg::nn::Linear e(8, 4);
  EXPECT_EQ(d.weight().to_vector<float>(), e.weight().to_vector<float>());
}

TEST(NnLinear, PrintsItsSettings) {
  std::ostringstream os;
  os << tg::nn::Linear(3, 2, {.bias = false});
  EXPECT_EQ(os.str(), "Linear(in=3, out=2, bias=false)");
}
