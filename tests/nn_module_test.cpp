#include <gtest/gtest.h>

#include <cmath>

#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {

std::vector<std::string> names(const tg::NamedTensors& named) {
  std::vector<std::string> out;
  for (auto& [n, t] : named) out.push_back(n);
  return out;
}

tg::nn::Sequential mlp(uint64_t seed) {
  tg::Generator gen(seed);
  return tg::nn::Sequential{tg::nn::Linear(3, 4, {.generator = &gen}), tg::nn::Tanh(),
                            tg::nn::Linear(4, 2, {.generator = &gen})};
}

std::string load_error(tg::nn::Module& m, const tg::NamedTensors& state) {
  try {
    m.load_state_dict(state);
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(NnModule, NamedParametersHaveStableDottedNames) {
  auto net = mlp(0);
  EXPECT_EQ(names(net.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(net.parameters().size(), 4u);
  EXPECT_EQ(net.parameter_count(), 3 * 4 + 4 + 4 * 2 + 2);
  tg::nn::Sequential outer;
  outer.push_back(tg::nn::ReLU());
  outer.push_back(net);
  EXPECT_EQ(names(outer.named_parameters()),
            (std::vector<std::string>{"1.0.weight", "1.0.bias", "1.2.weight", "1.2.bias"}));
  tg::nn::Linear lin(2, 2);
  EXPECT_EQ(names(lin.named_parameters()), (std::vector<std::string>{"weight", "bias"}));
}

TEST(NnModule, SharedParametersAreListedOnce) {
  tg::nn::Linear shared(2, 2);
  tg::nn::Sequential net{shared, tg::nn::Tanh(), shared};  // copies share the storage
  EXPECT_EQ(names(net.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias"}));
}

TEST(NnModule, TrainAndEvalReachEveryDescendant) {
  tg::nn::Sequential inner{tg::nn::Dropout(0.5)};
  tg::nn::Sequential net{tg::nn::Linear(2, 2)};
  net.push_back(inner);
  EXPECT_TRUE(net.is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net[0].is_training());
  EXPECT_FALSE(net.get<tg::nn::Sequential>(1)[0].is_training());
  net.train();
  EXPECT_TRUE(net.get<tg::nn::Sequential>(1)[0].is_training());
}

TEST(NnModule, ZeroGradClearsEveryParameter) {
  auto net = mlp(1);
  tg::sum(net(tg::ones({2, 3}))).backward();
  for (auto& p : net.parameters()) ASSERT_TRUE(p.has_grad());
  double before = 0;
  for (double g : net.parameters()[2].grad().to_vector<double>()) before += std::abs(g);
  EXPECT_GT(before, 0.0);
  net.zero_grad();
  for (auto& p : net.parameters())
    for (double g : p.grad().to_vector<double>()) EXPECT_EQ(g, 0.0);
}

TEST(NnModule, StateDictIsASnapshotAndRoundTrips) {
  auto a = mlp(1), b = mlp(2);
  auto x = tg::tensor({{0.1, -0.2, 0.3}});
  auto state = a.state_dict();
  EXPECT_EQ(names(state), names(a.named_parameters()));
  EXPECT_FALSE(state[0].second.requires_grad());
  // Training after the snapshot does not change it.
  auto y_a = a(x).to_vector<float>();
  a.parameters()[0].add_(tg::ones({3, 4}));
  EXPECT_NE(a(x).to_vector<float>(), y_a);
  // Loading copies in place: the parameter handles (and an optimizer holding them) stay valid.
  auto handle = b.parameters()[0];
  const uint32_t v = handle.version();
  b.load_state_dict(state);
  EXPECT_EQ(b(x).to_vector<float>(), y_a);
  EXPECT_TRUE(handle.is_same(b.parameters()[0]));
  EXPECT_GT(handle.version(), v);
  EXPECT_TRUE(b.parameters()[0].requires_grad());
  a.load_state_dict(state);
  EXPECT_EQ(a(x).to_vector<float>(), y_a);
  // Values of another dtype are converted.
  tg::NamedTensors wide;
  for (auto& [n, t] : state) wide.emplace_back(n, t.to(tg::Dtype::f64));
  b.load_state_dict(wide);
  EXPECT_EQ(b.parameters()[0].dtype(), tg::Dtype::f32);
  EXPECT_EQ(b(x).to_vector<float>(), y_a);
}

TEST(NnModule, LoadStateDictRejectsMissingExtraAndMisshapedEntries) {
  auto net = mlp(3);
  auto good = net.state_dict();
  auto before = net.parameters()[0].to_vector<float>();

  auto missing = good;
  missing.pop_back();
  std::string m = load_error(net, missing);
  EXPECT_NE(m.find("missing entry '2.bias'"), std::string::npos) << m;
  EXPECT_NE(m.find("[2]"), std::string::npos) << m;

  auto extra = good;
  extra.emplace_back("3.weight", tg::zeros({2, 2}));
  m = load_error(net, extra);
  EXPECT_NE(m.find("unexpected entry '3.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 2]"), std::string::npos) << m;

  auto misshaped = good;
  misshaped[0].second = tg::zeros({4, 3});
  m = load_error(net, misshaped);
  EXPECT_NE(m.find("'0.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("shape [4, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("shape [3, 4]"), std::string::npos) << m;

  auto twice = good;
  twice.push_back(good[0]);
  m = load_error(net, twice);
  EXPECT_NE(m.find("twice"), std::string::npos) << m;

  auto undefined = good;
  undefined[1].second = tg::Tensor();
  EXPECT_NE(load_error(net, undefined).find("'0.bias'"), std::string::npos);

  // Every failure happened before any copy: the first parameter is untouched even though its
  // own entry was fine in most of the bad dicts (changed here to prove it).
  auto changed_then_bad = good;
  changed_then_bad[0].second = tg::ones({3, 4});
  changed_then_bad.pop_back();
  EXPECT_THROW(net.load_state_dict(changed_then_bad), tg::Error);
  EXPECT_EQ(net.parameters()[0].to_vector<float>(), before);
}

TEST(NnModule, ActivationsOnKnownValues) {
  auto x = tg::tensor({-2.0, 0.0, 3.0}, tg::Dtype::f64);
  auto v = [](const tg::Tensor& t) { return t.to_vector<double>(); };
  EXPECT_EQ(v(tg::nn::ReLU()(x)), (std::vector<double>{0.0, 0.0, 3.0}));
  EXPECT_EQ(v(tg::nn::LeakyReLU()(x)), (std::vector<double>{-0.02, 0.0, 3.0}));
  EXPECT_EQ(v(tg::nn::LeakyReLU(0.5)(x)), (std::vector<double>{-1.0, 0.0, 3.0}));
  EXPECT_EQ(tg::nn::Sigmoid()(x).at({1}), 0.5);
  EXPECT_EQ(tg::nn::Tanh()(x).at({1}), 0.0);
  // Softmax defaults to the last axis: every row of a {2, 3} input sums to one.
  auto p = tg::nn::Softmax()(tg::tensor({{1.0, 2.0, 3.0}, {0.0, 0.0, 0.0}}, tg::Dtype::f64));
  EXPECT_NEAR(p.at({0, 0}) + p.at({0, 1}) + p.at({0, 2}), 1.0, 1e-12);
  EXPECT_NEAR(p.at({1, 0}), 1.0 / 3.0, 1e-12);
  auto q = tg::nn::Softmax(0)(tg::tensor({{1.0, 5.0}, {1.0, -5.0}}, tg::Dtype::f64));
  EXPECT_NEAR(q.at({0, 0}), 0.5, 1e-12);
  EXPECT_EQ(tg::nn::LeakyReLU(0.2).str(), "LeakyReLU(slope=0.2)");
  EXPECT_EQ(tg::nn::Softmax().str(), "Softmax(axis=-1)");
  // The smooth activations, against their definitions in long double.
  for (double xv : {-30.0, -2.0, -1e-9, 0.0, 0.5, 3.0, 40.0}) {
    const tg::Tensor t = tg::tensor(xv, tg::Dtype::f64);
    const long double X = xv, s = 1 / (1 + std::exp(-X));
    EXPECT_NEAR(tg::nn::Softplus()(t).item(), static_cast<double>(std::log1p(std::exp(X))), 1e-15 * (1 + std::fabs(xv)));
    EXPECT_NEAR(tg::nn::SiLU()(t).item(), static_cast<double>(X * s), 1e-15 * (1 + std::fabs(xv)));
    EXPECT_NEAR(tg::nn::GELU()(t).item(), static_cast<double>(X * 0.5L * (1 + std::erf(X / std::sqrt(2.0L)))),
                1e-15 * (1 + std::fabs(xv)));
    EXPECT_NEAR(tg::nn::ELU(0.5)(t).item(), static_cast<double>(X > 0 ? X : 0.5L * std::expm1(X)), 1e-15 * (1 + std::fabs(xv)));
  }
  // Far out, softplus is x itself (no overflow to inf) or e^x (no underflow to 0 before it must).
  EXPECT_EQ(tg::softplus(tg::tensor(1000.0, tg::Dtype::f64)).item(), 1000.0);
  EXPECT_NEAR(tg::softplus(tg::tensor(-50.0, tg::Dtype::f64)).item(), std::exp(-50.0), 1e-36);
  EXPECT_EQ(tg::nn::ELU().str(), "ELU(alpha=1)");
  EXPECT_EQ(tg::nn::GELU().str(), "GELU");
}

TEST(NnModule, ActivationsPassGradcheck) {
  tg::Generator gen(9);
  // Away from the kink at 0 of relu and leaky_relu.
  auto x = tg::samples::away_from({3, 4}, 0.0, 0.1, tg::Dtype::f64, gen);
  std::vector<std::shared_ptr<tg::nn::Module>> acts{
      std::make_shared<tg::nn::ReLU>(), std::make_shared<tg::nn::Sigmoid>(), std::make_shared<tg::nn::Tanh>(),
      std::make_shared<tg::nn::LeakyReLU>(0.1), std::make_shared<tg::nn::Softmax>(), std::make_shared<tg::nn::Softplus>(),
      std::make_shared<tg::nn::SiLU>(), std::make_shared<tg::nn::GELU>(), std::make_shared<tg::nn::ELU>(0.5)};
  for (auto& act : acts) {
    auto r = tg::gradcheck([&](auto& in) { return (*act)(in[0]); }, {x});
    EXPECT_TRUE(r.ok) << act->str() << "\n" << r;
  }
}
