#include <gtest/gtest.h>

#include <cmath>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

TEST(NnLoss, CrossEntropyOnKnownValues) {
  tg::nn::CrossEntropyLoss ce;
  // Equal logits over two classes: -log(1/2).
  auto l = ce(tg::tensor({{0.0, 0.0}, {3.0, 3.0}}, tg::Dtype::f64), std::vector<int64_t>{0, 1});
  EXPECT_NEAR(l.item(), std::log(2.0), 1e-12);
  // Labels as a rank-1 tensor and as one-hot probabilities agree with the vector form.
  auto logits = tg::tensor({{1.0, 2.0, 0.5}, {0.1, -1.0, 2.0}}, tg::Dtype::f64);
  double by_vector = ce(logits, std::vector<int64_t>{1, 2}).item();
  EXPECT_NEAR(ce(logits, tg::tensor({1.0, 2.0}, tg::Dtype::f64)).item(), by_vector, 1e-12);
  EXPECT_NEAR(ce(logits, tg::one_hot({1, 2}, 3, tg::Dtype::f64)).item(), by_vector, 1e-12);
  EXPECT_THROW(ce(logits, std::vector<int64_t>{1}), tg::Error);
}

TEST(NnLoss, MseAndBceOnKnownValues) {
  tg::nn::MSELoss mse;
  // ((1-0)^2 + (2-0)^2) / 2
  EXPECT_NEAR(mse(tg::tensor({1.0, 2.0}), tg::tensor({0.0, 0.0})).item(), 2.5, 1e-6);
  tg::nn::BCEWithLogitsLoss bce;
  // sigmoid(0) = 1/2 against either target: log 2.
  EXPECT_NEAR(bce(tg::tensor({0.0, 0.0}, tg::Dtype::f64), tg::tensor({1.0, 0.0}, tg::Dtype::f64)).item(),
              std::log(2.0), 1e-12);
  // A confident right answer at a huge logit costs ~0 and does not overflow.
  EXPECT_NEAR(bce(tg::tensor({800.0}, tg::Dtype::f64), tg::tensor({1.0}, tg::Dtype::f64)).item(), 0.0, 1e-12);
  EXPECT_THROW(mse(tg::zeros({2}), tg::zeros({3})), tg::Error);
}

TEST(NnLoss, LossModulesPassGradcheck) {
  tg::Generator gen(4);
  auto logits = tg::randn({4, 3}, gen, tg::Dtype::f64);
  auto target = tg::rand({4, 3}, gen, tg::Dtype::f64);
  tg::nn::CrossEntropyLoss ce;
  tg::nn::MSELoss mse;
  tg::nn::BCEWithLogitsLoss bce;
  auto r1 = tg::gradcheck([&](auto& in) { return ce(in[0], std::vector<int64_t>{0, 2, 1, 2}); }, {logits});
  EXPECT_TRUE(r1.ok) << r1;
  auto r2 = tg::gradcheck([&](auto& in) { return mse(in[0], in[1]); }, {logits, target});
  EXPECT_TRUE(r2.ok) << r2;
  auto r3 = tg::gradcheck([&](auto& in) { return bce(in[0], in[1]); }, {logits, target}, {.skip_inputs = {1}});
  EXPECT_TRUE(r3.ok) << r3;
}
