#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

TEST(NnDropout, EvalModeIsTheIdentity) {
  tg::nn::Dropout drop(0.5);
  drop.eval();
  auto x = tg::ones({10, 10}).requires_grad(true);
  auto y = drop(x);
  EXPECT_TRUE(y.is_same(x));
  EXPECT_TRUE(tg::nn::Dropout(0.0)(x).is_same(x));  // p = 0 keeps everything even in training
}

TEST(NnDropout, TrainModeDropsAboutPAndRescalesTheRest) {
  tg::Generator gen(5);
  tg::nn::Dropout drop(0.3, &gen);
  EXPECT_TRUE(drop.is_training());
  auto x = tg::full({200, 500}, 2.0);
  auto v = drop(x).to_vector<double>();
  size_t zeros = 0;
  double sum = 0;
  for (double e : v) {
    if (e == 0.0) ++zeros;
    else EXPECT_NEAR(e, 2.0 / 0.7, 1e-6);
    sum += e;
  }
  EXPECT_NEAR(static_cast<double>(zeros) / v.size(), 0.3, 0.005);  // 100000 draws: sd 0.0014
  EXPECT_NEAR(sum / v.size(), 2.0, 0.02);                         // the expectation is kept
  EXPECT_EQ(tg::sum(tg::nn::Dropout(1.0, &gen)(x)).item(), 0.0);
  EXPECT_THROW(tg::nn::Dropout(1.5), tg::Error);
  EXPECT_THROW(tg::nn::Dropout(-0.1), tg::Error);
}

TEST(NnDropout, GradientIsTheSameMaskAndIsRecorded) {
  tg::Generator gen(8);
  tg::nn::Dropout drop(0.5, &gen);
  auto x = tg::ones({4, 6}, tg::Dtype::f64).requires_grad(true);
  auto y = drop(x);
  EXPECT_FALSE(y.is_leaf());
  tg::sum(y).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), y.to_vector<double>());  // x = 1, so y is the scaled mask
  auto r = tg::gradcheck(
      [&](auto& in) {
        gen.seed(3);  // the same mask on every evaluation
        return drop(in[0]);
      },
      {tg::randn({3, 4}, gen, tg::Dtype::f64)});
  EXPECT_TRUE(r.ok) << r;
}

TEST(NnDropout, MasksAreReproducibleFromTheSeed) {
  tg::Generator g1(9), g2(9);
  tg::nn::Dropout a(0.5, &g1), b(0.5, &g2);
  auto x = tg::ones({50});
  auto first = a(x).to_vector<float>();
  EXPECT_EQ(first, b(x).to_vector<float>());
  EXPECT_NE(first, a(x).to_vector<float>());  // a new mask every call
  EXPECT_EQ(tg::nn::Dropout(0.25).str(), "Dropout(p=0.25)");
}
