// Adagrad: the update rule against hand-worked steps, and training.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "optim_steps.h"

namespace tg = tapegrad;
using optim_steps::quadratic_step;
using optim_steps::scalar_param;

TEST(OptimAdagrad, StepsOnQuadratic) {
  // lr 0.1, eps 1e-10, x0 = 1, g = 2x; sum += g^2; x -= lr * g / (sqrt(sum) + eps):
  //   t=1: g = 2,             sum = 4;               x1 = 1 - 0.1*2/(2 + 1e-10) = 0.900000000005
  //   t=2: g = 1.80000000001, sum = 7.240000000036;  x2 = x1 - 0.1*g/2.69072...  = 0.833103526845036
  //   t=3: g = 1.66620705369007, sum = 10.0162459458025;                     x3 = 0.78045618135681
  auto x = scalar_param(1.0);
  tg::optim::Adagrad opt({x}, {.lr = 0.1});
  optim_steps::expect_quadratic_steps(opt, x, {0.900000000005, 0.833103526845036, 0.78045618135681}, 1e-14);
}

TEST(OptimAdagrad, LrDecayDividesByOnePlusStepsTimesDecay) {
  // lr_decay 0.5: step t uses 0.1 / (1 + (t-1)*0.5) = 0.1, 0.0666..., 0.05.
  //   x1 = 0.900000000005;  x2 = x1 - 0.0666667*1.80000000001/2.69072 = 0.855402351231691
  //   t=3: g = 1.71080470246338, sum = 10.1668527300068;  x3 = x2 - 0.05*g/sqrt(sum) = 0.828575038417447
  auto x = scalar_param(1.0);
  tg::optim::Adagrad opt({x}, {.lr = 0.1, .lr_decay = 0.5});
  optim_steps::expect_quadratic_steps(opt, x, {0.900000000005, 0.855402351231691, 0.828575038417447}, 1e-14);
}

TEST(OptimAdagrad, InitialAccumulatorValueStartsTheSum) {
  // initial_accumulator_value 1: sum = 1 + 4 = 5, x1 = 1 - 0.1*2/sqrt(5) = 0.910557280904008;
  //   t=2: g = 1.82111456180802, sum = 8.31645824722921;  x2 = 0.847408050633142
  auto x = scalar_param(1.0);
  tg::optim::Adagrad opt({x}, {.lr = 0.1, .initial_accumulator_value = 1.0});
  for (const auto& [name, t] : opt.state_dict())
    if (name == "0.sum") {
      EXPECT_EQ(t.item(), 1.0);
    }
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.910557280904008, 1e-14);
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.847408050633142, 1e-14);
}

TEST(OptimAdagrad, WeightDecayIsAddedToTheGradient) {
  // weight_decay 1, lr 0.1: g = 2x + x = 3 at x0 = 1; sum = 9; x1 = 1 - 0.1*3/3 = 0.9 (up to eps).
  auto x = scalar_param(1.0);
  tg::optim::Adagrad opt({x}, {.lr = 0.1, .weight_decay = 1.0});
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.9, 1e-10);
}

TEST(OptimAdagrad, RejectsBadOptions) {
  auto x = scalar_param(1.0);
  EXPECT_THROW(tg::optim::Adagrad({x}, {.lr = -1.0}), tg::Error);
  EXPECT_THROW(tg::optim::Adagrad({x}, {.lr_decay = -1.0}), tg::Error);
  EXPECT_THROW(tg::optim::Adagrad({x}, {.initial_accumulator_value = -1.0}), tg::Error);
  EXPECT_THROW(tg::optim::Adagrad({x}, {.eps = -1.0}), tg::Error);
}

TEST(OptimAdagrad, TrainsLeastSquares) {
  // y = X [1.5, -2, 0.5]^T + 0.3 exactly, X 64x3 standard normal: loss below 1e-8 in 2000 steps.
  tg::Generator gen(1);
  auto X = tg::randn({64, 3}, gen, tg::Dtype::f64);
  auto target = tg::matmul(X, tg::tensor({{1.5}, {-2.0}, {0.5}}, tg::Dtype::f64)) + 0.3;
  auto W = tg::zeros({3, 1}, tg::Dtype::f64).requires_grad(true);
  auto b = tg::zeros({1}, tg::Dtype::f64).requires_grad(true);
  tg::optim::Adagrad opt({W, b}, {.lr = 0.5});
  auto loss = [&] { return tg::mse_loss(tg::matmul(X, W) + b, target); };
  for (int i = 0; i < 2000; ++i) {
    opt.zero_grad();
    loss().backward();
    opt.step();
  }
  EXPECT_LT(loss().item(), 1e-8);
}
