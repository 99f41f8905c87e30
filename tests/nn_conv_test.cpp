#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {
std::vector<double> values(const tg::Tensor& t) { return t.to_vector<double>(); }

double max_abs(const tg::Tensor& t) {
  double m = 0;
  for (double v : values(t)) m = std::max(m, std::abs(v));
  return m;
}
}  // namespace

TEST(NnConv2d, WeightIsOutInKKAndBiasIsOut) {
  tg::nn::Conv2d conv(3, 8, 5);
  EXPECT_EQ(conv.weight().shape(), (tg::Shape{8, 3, 5, 5}));
  EXPECT_EQ(conv.bias().shape(), (tg::Shape{8}));
  EXPECT_EQ(conv.weight().dtype(), tg::Dtype::f32);
  EXPECT_TRUE(conv.weight().requires_grad() && conv.weight().is_leaf());
  EXPECT_TRUE(conv.bias().requires_grad());
  EXPECT_EQ(conv.in_channels(), 3);
  EXPECT_EQ(conv.out_channels(), 8);
  EXPECT_EQ(conv.kernel_size(), 5);
  const tg::NamedTensors p = conv.named_parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].first, "weight");
  EXPECT_EQ(p[1].first, "bias");
  EXPECT_EQ(conv.parameter_count(), 8 * 3 * 25 + 8);

  tg::nn::Conv2d no_bias(3, 8, 5, {.bias = false});
  EXPECT_FALSE(no_bias.bias().defined());
  EXPECT_EQ(no_bias.parameters().size(), 1u);
  tg::nn::Conv2d wide(3, 8, 5, {.dtype = tg::Dtype::f64});
  EXPECT_EQ(wide.weight().dtype(), tg::Dtype::f64);
  EXPECT_EQ(wide.bias().dtype(), tg::Dtype::f64);
}

TEST(NnConv2d, OutputShapesFollowStridePaddingAndDilation) {
  // OH = (H + 2 padding - dilation (k - 1) - 1) / stride + 1, as torch.nn.Conv2d.
  struct Case {
    tg::nn::Conv2dOptions options;
    tg::Shape out;
  };
  const Case cases[] = {
      {{}, {2, 4, 8, 6}},                              // (10 - 3) + 1, (8 - 3) + 1
      {{.padding = 1}, {2, 4, 10, 8}},                 // "same" for k = 3
      {{.stride = 2}, {2, 4, 4, 3}},                   // (10 - 3) / 2 + 1, (8 - 3) / 2 + 1
      {{.stride = 2, .padding = 1}, {2, 4, 5, 4}},     // (12 - 3) / 2 + 1, (10 - 3) / 2 + 1
      {{.dilation = 2}, {2, 4, 6, 4}},                 // span 5
      {{.stride = 3, .padding = 2, .dilation = 2}, {2, 4, 4, 3}},  // (14 - 5) / 3 + 1, (12 - 5) / 3 + 1
  };
  tg::Generator gen(3);
  const tg::Tensor x = tg::randn({2, 3, 10, 8}, gen);
  for (const Case& c : cases) {
    tg::nn::Conv2d conv(3, 4, 3, c.options);
    EXPECT_EQ(conv(x).shape(), c.out) << conv.str();
    EXPECT_EQ(conv.output_shape({2, 3, 10, 8}), c.out) << conv.str();
    EXPECT_EQ(conv.output_shape({-1, 3, 10, 8})[0], -1) << "the free batch size stays free";
  }
}

TEST(NnConv2d, ForwardSlidesTheKernelOverKnownNumbers) {
  tg::nn::Conv2d conv(1, 2, 2, {.dtype = tg::Dtype::f64});
  // Channel 0 sums each 2x2 window; channel 1 takes its top-left minus bottom-right, plus 10.
  conv.weight() = tg::from_vector(std::vector<double>{1, 1, 1, 1, 1, 0, 0, -1}, {2, 1, 2, 2}, tg::Dtype::f64)
                      .requires_grad(true);
  conv.bias() = tg::tensor({0.0, 10.0}, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor x = tg::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, tg::Dtype::f64);
  const tg::Tensor y = conv(x);
  ASSERT_EQ(y.shape(), (tg::Shape{1, 2, 2, 2}));
  EXPECT_EQ(values(y), (std::vector<double>{12, 16, 24, 28, 6, 6, 6, 6}));
  tg::sum(y).backward();
  // d sum / d bias_o = number of output positions.
  EXPECT_EQ(values(conv.bias().grad()), (std::vector<double>{4, 4}));
}

TEST(NnConv2d, EveryParameterPassesGradcheck) {
  for (bool bias : {true, false}) {
    tg::nn::Conv2d conv(2, 3, 3, {.stride = 2, .padding = 1, .bias = bias, .dtype = tg::Dtype::f64});
    tg::Generator gen(4);
    std::vector<tg::Tensor> inputs{tg::randn({2, 2, 5, 5}, gen, tg::Dtype::f64), conv.weight()};
    if (bias) inputs.push_back(conv.bias());
    auto fn = [&](const std::vector<tg::Tensor>& in) {
      conv.weight() = in[1];
      if (bias) conv.bias() = in[2];
      return tg::tanh(conv(in[0]));
    };
    auto report = tg::gradcheck(fn, inputs);
    EXPECT_TRUE(report.ok) << "bias=" << bias << "\n" << report;
  }
}

TEST(NnConv2d, InitialisesAsPyTorchWithinOneOverSqrtFanIn) {
  // fan_in = in k k = 4 * 3 * 3 = 36: weight and bias from U(-1/6, 1/6).
  tg::Generator gen(7);
  tg::nn::Conv2d conv(4, 16, 3, {.generator = &gen});
  const double bound = 1.0 / 6.0;
  EXPECT_LE(max_abs(conv.weight()), bound);
  EXPECT_LE(max_abs(conv.bias()), bound);
  // 576 uniform draws reach close to the bound, and their mean is near 0: U(-b, b), not a
  // narrower or shifted range.
  EXPECT_GT(max_abs(conv.weight()), 0.95 * bound);
  EXPECT_LT(std::abs(tg::mean(conv.weight()).item()), 0.02);
  // The same seed gives the same layer; another seed another one.
  tg::Generator again(7), other(8);
  EXPECT_EQ(values(tg::nn::Conv2d(4, 16, 3, {.generator = &again}).weight()), values(conv.weight()));
  EXPECT_NE(values(tg::nn::Conv2d(4, 16, 3, {.generator = &other}).weight()), values(conv.weight()));
  // f32 and f64 layers get the same draws (rounded).
  tg::Generator g32(9), g64(9);
  const tg::nn::Conv2d c32(2, 2, 2, {.generator = &g32}), c64(2, 2, 2, {.dtype = tg::Dtype::f64, .generator = &g64});
  const std::vector<float> narrowed = c64.weight().to(tg::Dtype::f32).to_vector<float>();
  EXPECT_EQ(c32.weight().to_vector<float>(), narrowed);
}

TEST(NnConv2d, BadInputsNameTheLayerAndTheShapes) {
  tg::nn::Conv2d conv(3, 4, 3);
  std::string m = message_of([&] { conv(tg::zeros({3, 10, 10})); });
  EXPECT_NE(m.find("Conv2d(in=3, out=4, kernel=3"), std::string::npos) << m;
  EXPECT_NE(m.find("[3, 10, 10]"), std::string::npos) << m;
  EXPECT_NE(m.find("[N, 3, H, W]"), std::string::npos) << m;

  m = message_of([&] { conv(tg::zeros({2, 1, 10, 10})); });
  EXPECT_NE(m.find("[2, 1, 10, 10]"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 3, 3, 3]"), std::string::npos) << "names the weight's shape too: " << m;

  m = message_of([&] { conv(tg::zeros({2, 3, 2, 5})); });
  EXPECT_NE(m.find("[2, 3, 2, 5]"), std::string::npos) << m;
  EXPECT_NE(m.find("smaller than the kernel's span 3x3"), std::string::npos) << m;
  EXPECT_THROW(conv.output_shape({2, 3, 2, 5}), tg::Error);

  m = message_of([&] { conv(tg::zeros({2, 3, 5, 5}, tg::Dtype::f64)); });
  EXPECT_NE(m.find("float64"), std::string::npos) << m;
  EXPECT_NE(m.find("float32"), std::string::npos) << m;

  EXPECT_NE(message_of([&] { conv(tg::Tensor()); }).find("undefined"), std::string::npos);
  EXPECT_NE(message_of([] { tg::nn::Conv2d(0, 4, 3); }).find("in=0"), std::string::npos);
  EXPECT_NE(message_of([] { tg::nn::Conv2d(3, 4, 0); }).find("kernel=0"), std::string::npos);
  EXPECT_NE(message_of([] { tg::nn::Conv2d(3, 4, 3, {.stride = 0}); }).find("stride=0"), std::string::npos);
  EXPECT_NE(message_of([] { tg::nn::Conv2d(3, 4, 3, {.padding = -1}); }).find("padding=-1"), std::string::npos);
}

TEST(NnConv2d, StrShowsTheSettings) {
  EXPECT_EQ(tg::nn::Conv2d(1, 32, 3, {.padding = 1}).str(),
            "Conv2d(in=1, out=32, kernel=3, stride=1, padding=1, bias=true)");
  EXPECT_EQ(tg::nn::Conv2d(2, 4, 5, {.stride = 2, .dilation = 2, .bias = false}).str(),
            "Conv2d(in=2, out=4, kernel=5, stride=2, padding=0, dilation=2, bias=false)");
  EXPECT_EQ(tg::nn::Conv2d(1, 1, 1).name(), "Conv2d");
}

TEST(NnConv2d, ACnnInASequentialTrains) {
  tg::nn::manual_seed(11);
  tg::nn::Sequential net{tg::nn::Conv2d(1, 4, 3, {.padding = 1}), tg::nn::ReLU(), tg::nn::MaxPool2d(2),
                         tg::nn::Flatten(), tg::nn::Linear(4 * 4 * 4, 3)};
  EXPECT_EQ(net.output_shape({-1, 1, 8, 8}), (tg::Shape{-1, 3}));
  const std::string table = net.summary({-1, 1, 8, 8});
  EXPECT_NE(table.find("(0): Conv2d(in=1, out=4, kernel=3, stride=1, padding=1, bias=true)"), std::string::npos)
      << table;
  EXPECT_NE(table.find("[N, 4, 8, 8] -> [N, 4, 4, 4]"), std::string::npos) << table;
  EXPECT_NE(table.find("[N, 4, 4, 4] -> [N, 64]"), std::string::npos) << table;
  std::vector<std::string> names;
  for (const auto& [name, t] : net.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"}));

  tg::Generator gen(12);
  const tg::Tensor x = tg::randn({6, 1, 8, 8}, gen);
  const std::vector<int64_t> labels{0, 1, 2, 0, 1, 2};
  tg::optim::SGD sgd(net.parameters(), {.lr = 0.1});
  const double first = tg::softmax_cross_entropy(net(x), labels).item();
  double last = first;
  for (int step = 0; step < 20; ++step) {
    sgd.zero_grad();
    tg::Tensor loss = tg::softmax_cross_entropy(net(x), labels);
    loss.backward();
    sgd.step();
    last = loss.item();
  }
  EXPECT_LT(last, 0.5 * first) << "the convolution's weights get gradients and learn";
}
