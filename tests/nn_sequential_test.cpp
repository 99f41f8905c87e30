#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

TEST(NnSequential, BuildsFromABracedListAndGrows) {
  tg::nn::Sequential net{tg::nn::Linear(784, 50), tg::nn::ReLU(), tg::nn::Linear(50, 10)};
  EXPECT_EQ(net.size(), 3u);
  EXPECT_EQ(net[1].name(), "ReLU");
  EXPECT_EQ(net.get<tg::nn::Linear>(2).out_features(), 10);
  EXPECT_THROW(net[3], tg::Error);
  EXPECT_THROW(net.get<tg::nn::Linear>(1), tg::Error);
  EXPECT_EQ(net(tg::zeros({4, 784})).shape(), (tg::Shape{4, 10}));

  tg::nn::Sequential grown;
  EXPECT_TRUE(grown.empty());
  auto x = tg::ones({2, 2});
  EXPECT_TRUE(grown(x).is_same(x));  // empty chain: the identity
  auto shared = std::make_shared<tg::nn::Linear>(2, 2);
  grown.push_back(shared).push_back(tg::nn::Sigmoid());
  EXPECT_EQ(grown.size(), 2u);
  EXPECT_EQ(&grown[0], shared.get());  // a shared_ptr is kept as given
  // A module passed by value is copied but shares its parameter storage.
  tg::nn::Linear lin(2, 2);
  grown.push_back(lin);
  lin.weight().fill_(0.25);
  EXPECT_EQ(grown.get<tg::nn::Linear>(2).weight().at({1, 1}), 0.25);
}

TEST(NnSequential, ForwardComposesTheModulesInOrder) {
  tg::Generator gen(3);
  tg::nn::Linear a(3, 4, {.generator = &gen}), b(4, 2, {.generator = &gen});
  tg::nn::Sequential net{a, tg::nn::Tanh(), b};
  auto x = tg::randn({5, 3}, gen);
  EXPECT_EQ(net(x).to_vector<float>(), b(tg::tanh(a(x))).to_vector<float>());
}

TEST(NnSequential, ErrorsNameTheFailingIndex) {
  tg::nn::Sequential net{tg::nn::Linear(3, 4), tg::nn::ReLU(), tg::nn::Linear(5, 2)};
  try {
    net(tg::zeros({1, 3}));
    FAIL() << "expected tg::Error";
  } catch (const tg::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Sequential[2]: Linear(in=5, out=2"), std::string::npos) << m;
    EXPECT_NE(m.find("[1, 4]"), std::string::npos) << m;
  }
}

TEST(NnSequential, EveryParameterPassesGradcheck) {
  tg::Generator gen(7);
  auto f64 = [&](int64_t i, int64_t o) { return tg::nn::Linear(i, o, {.dtype = tg::Dtype::f64, .generator = &gen}); };
  tg::nn::Sequential net{f64(3, 4), tg::nn::Tanh(), f64(4, 4), tg::nn::Sigmoid(), f64(4, 2), tg::nn::Softmax()};
  auto x = tg::randn({3, 3}, gen, tg::Dtype::f64);
  std::vector<tg::Tensor> inputs{x};
  for (auto& p : net.parameters()) inputs.push_back(p);
  auto fn = [&](const std::vector<tg::Tensor>& in) {
    size_t k = 1;
    for (size_t i : {0u, 2u, 4u}) {
      net.get<tg::nn::Linear>(i).weight() = in[k++];
      net.get<tg::nn::Linear>(i).bias() = in[k++];
    }
    return net(in[0]);
  };
  auto report = tg::gradcheck(fn, inputs);
  EXPECT_TRUE(report.ok) << report;
  EXPECT_EQ(report.inputs.size(), 7u);
}

TEST(NnSequential, PrintsOneLinePerLayerWithShapesAndCounts) {
  tg::nn::Sequential net{tg::nn::Linear(784, 50), tg::nn::ReLU(), tg::nn::Linear(50, 10)};
  std::ostringstream os;
  os << net;
  EXPECT_EQ(os.str(),
            "Sequential(\n"
            "  (0): Linear(in=784, out=50, bias=true)  [N, 784] -> [N, 50]  39250 params\n"
            "  (1): ReLU                               [N, 50] -> [N, 50]   0 params\n"
            "  (2): Linear(in=50, out=10, bias=true)   [N, 50] -> [N, 10]   510 params\n"
            ")\n"
            "Total: 39760 params");
  // With a concrete input shape, and with a chain that breaks.
  EXPECT_NE(net.summary({32, 784}).find("[32, 784] -> [32, 50]"), std::string::npos);
  tg::nn::Sequential bad{tg::nn::Linear(3, 4), tg::nn::Linear(5, 2)};
  EXPECT_NE(bad.str().find("error: "), std::string::npos) << bad.str();
}

// A later module's input shape is the chain's only if the modules before it pass that shape
// through: a Linear after Conv2d, pooling and Flatten fixes its own input, not the image's. The
// printout shows "?" until then and the shapes from there on, never an error of a sound chain.
TEST(NnSequential, PrintsAConvNetWithoutAnErrorAndWithShapesFromTheFirstLinear) {
  namespace nn = tg::nn;
  nn::Sequential cnn{nn::Conv2d(1, 4, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                     nn::Linear(4 * 14 * 14, 10), nn::ReLU(), nn::Linear(10, 3)};
  EXPECT_TRUE(cnn.input_shape_hint().empty()) << cnn.input_shape_hint().str();
  const std::string text = cnn.str();
  EXPECT_EQ(text.find("error"), std::string::npos) << text;
  EXPECT_NE(text.find("? -> ?"), std::string::npos) << text;
  EXPECT_NE(text.find("[N, 784] -> [N, 10]"), std::string::npos) << text;
  EXPECT_NE(text.find("[N, 10] -> [N, 3]"), std::string::npos) << text;
  // With the image's shape given, every row is known.
  const std::string given = cnn.summary({-1, 1, 28, 28});
  EXPECT_EQ(given.find('?'), std::string::npos) << given;
  EXPECT_NE(given.find("[N, 1, 28, 28] -> [N, 4, 28, 28]"), std::string::npos) << given;

  // Shape-preserving modules before a Linear let its shape stand for the chain's; so does a
  // nested chain.
  nn::Sequential relu_first{nn::ReLU(), nn::Dropout(0.5), nn::Linear(3, 2)};
  EXPECT_EQ(relu_first.input_shape_hint(), tg::Shape({-1, 3}));
  nn::Sequential nested;
  nested.push_back(std::make_shared<nn::Sequential>(cnn));
  EXPECT_TRUE(nested.input_shape_hint().empty());
  EXPECT_EQ(nested.str().find("error"), std::string::npos) << nested.str();
}

// A 2-8-1 tanh network fits y = sin(2 x1) + x2^2 / 2 on a 7x7 grid of [-1, 1]^2 with plain
// full-batch gradient descent written with add_ (lr 0.2, 2000 steps): the MSE falls below 0.003
// (about 0.0013 for seeds 0 to 3), from several tenths at the start.
TEST(NnSequential, SmallMlpFitsAToyRegression) {
  std::vector<double> xs, ys;
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 7; ++j) {
      double a = -1.0 + i / 3.0, b = -1.0 + j / 3.0;
      xs.insert(xs.end(), {a, b});
      ys.push_back(std::sin(2 * a) + 0.5 * b * b);
    }
  auto X = tg::from_vector(xs, {49, 2}), Y = tg::from_vector(ys, {49, 1});
  tg::Generator gen(0);
  tg::nn::Sequential net{tg::nn::Linear(2, 8, {.init = tg::nn::LinearInit::xavier_uniform, .generator = &gen}),
                         tg::nn::Tanh(),
                         tg::nn::Linear(8, 1, {.init = tg::nn::LinearInit::xavier_uniform, .generator = &gen})};
  tg::nn::MSELoss mse;
  const double first = mse(net(X), Y).item();
  double last = first;
  for (int step = 0; step < 2000; ++step) {
    net.zero_grad();
    auto loss = mse(net(X), Y);
    loss.backward();
    last = loss.item();
    tg::NoGradGuard no_grad;
    for (auto& p : net.parameters()) p.add_(p.grad(), -0.2);
  }
  EXPECT_GT(first, 0.1);
  EXPECT_LT(last, 0.003) << "started at " << first;
}
