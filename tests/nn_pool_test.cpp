#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {
std::vector<double> values(const tg::Tensor& t) { return t.to_vector<double>(); }

// [[1 .. 4], [5 .. 8], [9 .. 12], [13 .. 16]] as one 4x4 image.
tg::Tensor image4x4() {
  std::vector<double> v(16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i + 1);
  return tg::from_vector(v, {1, 1, 4, 4}, tg::Dtype::f64);
}
}  // namespace

TEST(NnPool, MaxPoolTakesEachWindowsLargest) {
  tg::nn::MaxPool2d pool(2);
  const tg::Tensor y = pool(image4x4());
  ASSERT_EQ(y.shape(), (tg::Shape{1, 1, 2, 2}));
  EXPECT_EQ(values(y), (std::vector<double>{6, 8, 14, 16}));
  // Stride 1: nine overlapping windows.
  EXPECT_EQ(values(tg::nn::MaxPool2d(2, 1)(image4x4())), (std::vector<double>{6, 7, 8, 10, 11, 12, 14, 15, 16}));
}

TEST(NnPool, AvgPoolTakesEachWindowsMean) {
  tg::nn::AvgPool2d pool(2);
  EXPECT_EQ(values(pool(image4x4())), (std::vector<double>{3.5, 5.5, 11.5, 13.5}));
  // Padding counts as zeros in the mean (count_include_pad, PyTorch's default): the corner
  // window of a 3x3 kernel with padding 1 holds 1, 2, 5, 6 and five zeros.
  const tg::Tensor padded = tg::nn::AvgPool2d(3, 2, 1)(image4x4());
  ASSERT_EQ(padded.shape(), (tg::Shape{1, 1, 2, 2}));
  EXPECT_DOUBLE_EQ(values(padded)[0], 14.0 / 9.0);
}

TEST(NnPool, OutputShapesAndStr) {
  tg::nn::MaxPool2d max2(2);
  EXPECT_EQ(max2.str(), "MaxPool2d(kernel=2, stride=2, padding=0)");
  EXPECT_EQ(max2.output_shape({-1, 4, 28, 28}), (tg::Shape{-1, 4, 14, 14}));
  EXPECT_EQ(max2.output_shape({2, 4, 7, 7}), (tg::Shape{2, 4, 3, 3})) << "the last row and column are dropped";
  tg::nn::AvgPool2d avg(3, 2, 1);
  EXPECT_EQ(avg.str(), "AvgPool2d(kernel=3, stride=2, padding=1)");
  EXPECT_EQ(avg.output_shape({2, 4, 7, 7}), (tg::Shape{2, 4, 4, 4}));
  tg::Generator gen(1);
  EXPECT_EQ(avg(tg::randn({2, 4, 7, 7}, gen)).shape(), (tg::Shape{2, 4, 4, 4}));
  EXPECT_EQ(max2.name(), "MaxPool2d");
  EXPECT_EQ(avg.name(), "AvgPool2d");
}

TEST(NnPool, PoolsPassGradcheck) {
  tg::Generator gen(2);
  const tg::Tensor x = tg::randn({2, 2, 5, 5}, gen, tg::Dtype::f64);
  tg::nn::MaxPool2d max_pool(3, 2, 1);
  tg::nn::AvgPool2d avg_pool(3, 2, 1);
  auto report = tg::gradcheck([&](const std::vector<tg::Tensor>& in) { return max_pool(in[0]); }, {x});
  EXPECT_TRUE(report.ok) << report;
  report = tg::gradcheck([&](const std::vector<tg::Tensor>& in) { return avg_pool(in[0]); }, {x});
  EXPECT_TRUE(report.ok) << report;
}

TEST(NnPool, BadInputsNameTheLayerAndTheShape) {
  tg::nn::MaxPool2d pool(2);
  std::string m = message_of([&] { pool(tg::zeros({4, 4})); });
  EXPECT_NE(m.find("MaxPool2d(kernel=2, stride=2, padding=0)"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 4]"), std::string::npos) << m;
  EXPECT_NE(m.find("[N, C, H, W]"), std::string::npos) << m;
  m = message_of([] { tg::nn::AvgPool2d(3)(tg::zeros({1, 1, 2, 5})); });
  EXPECT_NE(m.find("AvgPool2d"), std::string::npos) << m;
  EXPECT_NE(m.find("[1, 1, 2, 5]"), std::string::npos) << m;
  EXPECT_NE(m.find("smaller than the window 3x3"), std::string::npos) << m;
  EXPECT_NE(message_of([] { tg::nn::MaxPool2d(2, 2, 2); }).find("at most half the kernel"), std::string::npos);
  EXPECT_NE(message_of([] { tg::nn::MaxPool2d(0); }).find("kernel >= 1"), std::string::npos);
  EXPECT_NE(message_of([] { tg::nn::AvgPool2d(2, -1); }).find("stride=-1"), std::string::npos);
}

TEST(NnFlatten, MergesEveryAxisAfterTheBatch) {
  tg::nn::Flatten flatten;
  tg::Generator gen(3);
  const tg::Tensor x = tg::randn({2, 3, 4, 5}, gen);
  const tg::Tensor y = flatten(x);
  EXPECT_EQ(y.shape(), (tg::Shape{2, 60}));
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>()) << "row-major order is kept";
  EXPECT_EQ(flatten.output_shape({-1, 4, 14, 14}), (tg::Shape{-1, 784}));
  EXPECT_EQ(flatten(tg::zeros({3, 7})).shape(), (tg::Shape{3, 7}));
  EXPECT_EQ(flatten.str(), "Flatten");
  const std::string m = message_of([&] { flatten(tg::zeros({5})); });
  EXPECT_NE(m.find("Flatten"), std::string::npos) << m;
  EXPECT_NE(m.find("[5]"), std::string::npos) << m;
  // The gradient flows back in the input's shape.
  const tg::Tensor leaf = tg::randn({2, 3, 2}, gen).requires_grad(true);
  tg::sum(flatten(leaf)).backward();
  EXPECT_EQ(leaf.grad().shape(), (tg::Shape{2, 3, 2}));
}
