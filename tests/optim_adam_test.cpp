// Adam and AdamW: the update rules against hand-worked steps, and training.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "optim_steps.h"

namespace tg = tapegrad;
using optim_steps::quadratic_step;
using optim_steps::scalar_param;
namespace {
// One step with the gradient set by hand.
void step_with_grad(tg::optim::Optimizer& opt, tg::Tensor& x, double g) {
  x.set_grad(tg::tensor({g}, x.dtype()));
  opt.step();
}
}  // namespace

TEST(OptimAdam, StepsOnQuadratic) {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, x0 = 1, g = 2x; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps):
  //   t=1: g = 2,           m = 0.2,          v = 0.004;          x1 = 1 - 0.1*(0.2/0.1)/(2 + 1e-8) = 0.9000000005
  //   t=2: g = 1.800000001, m = 0.3600000001, v = 0.0072360000036; 1-b1^2 = 0.19, 1-b2^2 = 0.001999
  //        x2 = 0.9000000005 - (0.1/0.19) * 0.3600000001 / (sqrt(0.0072360000036/0.001999) + 1e-8) = 0.800412228691793
  //   t=3: g = 1.60082445738359, m = 0.484082445828359, v = 0.00979140294695385; 1-b1^3 = 0.271,
  //        1-b2^3 = 0.002997001;  x3 = 0.70158627294603
  auto x = scalar_param(1.0);
  tg::optim::Adam opt({x}, {.lr = 0.1});
  optim_steps::expect_quadratic_steps(opt, x, {0.9000000005, 0.800412228691793, 0.70158627294603}, 1e-13);
}

TEST(OptimAdam, WeightDecayIsL2InTheGradient) {
  // lr 0.1, weight_decay 0.1: g = 2x + 0.1x.
  //   t=1: g = 2.1, m = 0.21, v = 0.00441; x1 = 1 - 0.1 * 2.1/(2.1 + 1e-8) = 0.90000000047619
  //   t=2: g = 1.890000001, m = 0.3780000001, v = 0.00797769000378; x2 = 0.800412228643195
  auto x = scalar_param(1.0);
  tg::optim::Adam opt({x}, {.lr = 0.1, .weight_decay = 0.1});
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.90000000047619, 1e-13);
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.800412228643195, 1e-13);
}

TEST(OptimAdam, AmsgradUsesTheLargestSecondMoment) {
  // lr 0.1, x0 = 0, gradients 10 then 0.1 (set by hand):
  //   t=1: m = 1,    v = 0.1;                     x1 = -0.1 * 10 / (10 + 1e-8) = -0.0999999999
  //   t=2: m = 0.91, v = 0.0999 + 0.00001 = 0.09991 (it fell); amsgrad keeps vmax = 0.1.
  //        Adam:    x2 = x1 - (0.1/0.19) * 0.91 / (sqrt(0.09991/0.001999) + 1e-8) = -0.167746943736004
  //        AMSGrad: x2 = x1 - (0.1/0.19) * 0.91 / (sqrt(0.1/0.001999) + 1e-8)     = -0.167716450748854
  auto plain = scalar_param(0.0), ams = scalar_param(0.0);
  tg::optim::Adam a({plain}, {.lr = 0.1});
  tg::optim::Adam b({ams}, {.lr = 0.1, .amsgrad = true});
  step_with_grad(a, plain, 10.0);
  step_with_grad(b, ams, 10.0);
  EXPECT_NEAR(plain.item(), -0.0999999999000001, 1e-15);
  EXPECT_NEAR(ams.item(), -0.0999999999000001, 1e-15);
  step_with_grad(a, plain, 0.1);
  step_with_grad(b, ams, 0.1);
  EXPECT_NEAR(plain.item(), -0.167746943736004, 1e-14);
  EXPECT_NEAR(ams.item(), -0.167716450748854, 1e-14);
  bool has_max = false;
  for (const auto& [name, t] : b.state_dict())
    if (name == "0.max_exp_avg_sq") {
      has_max = true;
      EXPECT_NEAR(t.item(), 0.1, 1e-15);
    }
  EXPECT_TRUE(has_max);
}

TEST(OptimAdamW, WeightDecayIsDecoupled) {
  // lr 0.1, weight_decay 0.1: first p *= 1 - 0.01, then Adam with g = 2x (the gradient before the decay).
  //   t=1: g = 2,           x = 0.99,         m = 0.2;   x1 = 0.99 - 0.1*2/(2 + 1e-8) = 0.8900000005
  //   t=2: g = 1.780000001, x = 0.881100000495, m = 0.3580000001, v = 0.00716440000356;  x2 = 0.781571855936505
  auto x = scalar_param(1.0);
  tg::optim::AdamW opt({x}, {.lr = 0.1, .weight_decay = 0.1});
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.8900000005, 1e-13);
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.781571855936505, 1e-13);
}

TEST(OptimAdamW, DefaultWeightDecayIsOneHundredth) {
  // With a zero gradient Adam's step is 0 (m = 0), so only the decay acts: x1 = 1 * (1 - 1e-3 * 1e-2).
  auto x = scalar_param(1.0);
  tg::optim::AdamW opt({x});
  step_with_grad(opt, x, 0.0);
  EXPECT_NEAR(x.item(), 0.99999, 1e-16);
  EXPECT_EQ(opt.lr(), 1e-3);
}

TEST(OptimAdam, RejectsBadOptions) {
  auto x = scalar_param(1.0);
  EXPECT_THROW(tg::optim::Adam({x}, {.lr = -1.0}), tg::Error);
  EXPECT_THROW(tg::optim::Adam({x}, {.betas = {1.0, 0.999}}), tg::Error);
  EXPECT_THROW(tg::optim::Adam({x}, {.betas = {0.9, -0.1}}), tg::Error);
  EXPECT_THROW(tg::optim::Adam({x}, {.eps = -1e-8}), tg::Error);
  EXPECT_THROW(tg::optim::AdamW({x}, {.weight_decay = -1.0}), tg::Error);
}

TEST(OptimAdam, TrainsRosenbrock) {
  // f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2); the minimum is 0 at (1, 1).
  auto x = tg::tensor(-1.5, tg::Dtype::f64).requires_grad(true);
  auto y = tg::tensor(2.0, tg::Dtype::f64).requires_grad(true);
  tg::optim::Adam opt({x, y}, {.lr = 0.02});
  auto f = [&] { return tg::square(1.0 - x) + 100.0 * tg::square(y - tg::square(x)); };
  for (int i = 0; i < 5000; ++i) {
    opt.zero_grad();
    f().backward();
    opt.step();
  }
  EXPECT_LT(f().item(), 1e-6);
}

TEST(OptimAdamW, TrainsLeastSquaresInFloat32) {
  // y = X [1.5, -2, 0.5]^T + 0.3 exactly, X 64x3 standard normal, float32 throughout.
  tg::Generator gen(1);
  auto X = tg::randn({64, 3}, gen);
  auto target = tg::matmul(X, tg::tensor({{1.5}, {-2.0}, {0.5}})) + 0.3;
  auto W = tg::zeros({3, 1}).requires_grad(true);
  auto b = tg::zeros({1}).requires_grad(true);
  tg::optim::AdamW opt({W, b}, {.lr = 0.05, .weight_decay = 0.0});
  auto loss = [&] { return tg::mse_loss(tg::matmul(X, W) + b, target); };
  for (int i = 0; i < 1000; ++i) {
    opt.zero_grad();
    loss().backward();
    opt.step();
  }
  EXPECT_LT(loss().item(), 1e-6);
  EXPECT_EQ(W.dtype(), tg::Dtype::f32);
}
