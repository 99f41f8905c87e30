// nn::Unflatten: torch.nn.Unflatten(dim, sizes) as a module, so that a Sequential of image layers
// takes a data loader's flat rows and saves under the names PyTorch's Sequential gives.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include <string>
#include <vector>

#include "message_of.h"

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

TEST(NnUnflatten, SplitsOneAxisIntoTheGivenSizesSharingTheStorage) {
  std::vector<double> counting(24);
  for (size_t i = 0; i < counting.size(); ++i) counting[i] = static_cast<double>(i);
  tg::Tensor x = tg::from_vector(counting, {2, 12});
  nn::Unflatten u(1, {3, 2, 2});
  tg::Tensor y = u(x);
  EXPECT_EQ(y.shape(), tg::Shape({2, 3, 2, 2}));
  EXPECT_EQ(y.to_vector<double>(), x.to_vector<double>()) << "row-major order is kept";
  EXPECT_EQ(y.at({1, 2, 1, 0}), 22.0);  // row 1, element 2 * 4 + 1 * 2 + 0
  x.fill_(7.0);
  EXPECT_EQ(y.at({0, 0, 0, 0}), 7.0) << "a reshape, not a copy";
  EXPECT_EQ(u.output_shape({-1, 12}), tg::Shape({-1, 3, 2, 2}));
  EXPECT_EQ(u.input_shape_hint(), tg::Shape({-1, 12}));
  EXPECT_EQ(u.str(), "Unflatten(dim=1, sizes=[3, 2, 2])");
  EXPECT_EQ(u.parameter_count(), 0);
}

TEST(NnUnflatten, NegativeDimAndOneInferredSizeAsInPyTorch) {
  nn::Unflatten last(-1, {2, -1});
  EXPECT_EQ(last.output_shape({3, 4, 6}), tg::Shape({3, 4, 2, 3}));
  EXPECT_TRUE(last.input_shape_hint().empty()) << "an inferred size fixes no input";
  nn::Unflatten middle(1, {2, 2});
  EXPECT_EQ(middle.output_shape({5, 4, 7}), tg::Shape({5, 2, 2, 7}));
  EXPECT_EQ(middle(tg::zeros({5, 4, 7})).shape(), tg::Shape({5, 2, 2, 7}));
}

TEST(NnUnflatten, GradientFlowsBackThroughTheReshape) {
  nn::Unflatten u(1, {2, 3});
  tg::TensorFn fn = [&](const std::vector<tg::Tensor>& in) {
    return tg::sum(tg::square(u(in[0])) * tg::tensor({1.0, 2.0, 3.0}, tg::Dtype::f64));
  };
  const tg::GradcheckReport r = tg::gradcheck(fn, {tg::tensor({{0.5, -1.0, 2.0, 1.5, -0.25, 3.0}}, tg::Dtype::f64)});
  EXPECT_TRUE(r.ok) << r;
}

TEST(NnUnflatten, BadSizesAndShapesAreErrorsThatNameThem) {
  EXPECT_NE(message_of([] { nn::Unflatten(1, {}); }).find("at least one size"), std::string::npos);
  EXPECT_NE(message_of([] { nn::Unflatten(1, {2, 0}); }).find("got 0"), std::string::npos);
  EXPECT_NE(message_of([] { nn::Unflatten(1, {-1, -1}); }).find("at most one size can be -1"), std::string::npos);

  nn::Unflatten u(1, {1, 28, 28});
  const std::string wrong = message_of([&] { u(tg::zeros({2, 700})); });
  for (const char* part : {"Unflatten(dim=1, sizes=[1, 28, 28])", "[2, 700]", "700 elements", "784"})
    EXPECT_NE(wrong.find(part), std::string::npos) << part << " not in: " << wrong;
  EXPECT_NE(message_of([&] { u.output_shape({784}); }).find("no dimension 1"), std::string::npos);
  EXPECT_NE(message_of([] { nn::Unflatten(1, {4, -1}).output_shape({2, 10}); }).find("a multiple of 4"),
            std::string::npos);
}

// The trainer's CNN is a plain Sequential: Unflatten is module 0, so the parameters are numbered
// from 1 as in PyTorch's nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(...), ...), and
// the printout shows every shape from the flat rows on.
TEST(NnUnflatten, LeadsASequentialOfImageLayers) {
  nn::Sequential net{nn::Unflatten(1, {1, 8, 8}), nn::Conv2d(1, 2, 3, {.padding = 1}), nn::ReLU(),
                     nn::MaxPool2d(2), nn::Flatten(), nn::Linear(2 * 4 * 4, 3)};
  EXPECT_EQ(net(tg::zeros({5, 64})).shape(), tg::Shape({5, 3}));
  std::vector<std::string> names;
  for (const auto& [name, t] : net.state_dict()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"1.weight", "1.bias", "5.weight", "5.bias"}));
  const std::string text = net.str();
  EXPECT_NE(text.find("[N, 64] -> [N, 1, 8, 8]"), std::string::npos) << text;
  EXPECT_NE(text.find("[N, 32] -> [N, 3]"), std::string::npos) << text;
  EXPECT_EQ(text.find('?'), std::string::npos) << text;
}
