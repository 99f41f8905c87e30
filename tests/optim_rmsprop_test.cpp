// RMSprop: the update rule against hand-worked steps, and training.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "optim_steps.h"

namespace tg = tapegrad;
using optim_steps::quadratic_step;
using optim_steps::scalar_param;

TEST(OptimRMSprop, StepsOnQuadratic) {
  // lr 0.01, alpha 0.99, eps 1e-8, x0 = 1, g = 2x; v = 0.99 v + 0.01 g^2; x -= lr * g / (sqrt(v) + eps):
  //   t=1: g = 2,          v = 0.04;            x1 = 1 - 0.01*2/0.20000001 = 0.900000005
  //   t=2: g = 1.80000001, v = 0.07200000036;   x2 = x1 - 0.01*g/0.268328168 = 0.832917967970033
  //   t=3: g = 1.66583593594007, v = 0.0990300940110932;              x3 = 0.779982273243635
  auto x = scalar_param(1.0);
  tg::optim::RMSprop opt({x}, {.lr = 0.01});
  optim_steps::expect_quadratic_steps(opt, x, {0.900000005, 0.832917967970033, 0.779982273243635}, 1e-14);
}

TEST(OptimRMSprop, MomentumAccumulatesTheScaledGradient) {
  // momentum 0.9: buf = 0.9 buf + g / (sqrt(v) + eps); x -= lr * buf.
  //   t=1: buf = 2/0.20000001 = 9.9999995;                    x1 = 0.900000005
  //   t=2: buf = 0.9*9.9999995 + 1.80000001/0.268328168 = 15.7082032529967;  x2 = 0.742917972470033
  //   t=3: g = 1.48583594494007, v = 0.0933570849091594, buf = 19.000303824107; x3 = 0.552914934228962
  auto x = scalar_param(1.0);
  tg::optim::RMSprop opt({x}, {.lr = 0.01, .momentum = 0.9});
  optim_steps::expect_quadratic_steps(opt, x, {0.900000005, 0.742917972470033, 0.552914934228962}, 1e-13);
}

TEST(OptimRMSprop, CenteredSubtractsTheSquaredMeanGradient) {
  // centered: m = 0.99 m + 0.01 g; avg = sqrt(v - m^2) + eps.
  //   t=1: g = 2, v = 0.04, m = 0.02, avg = sqrt(0.0396) + 1e-8 = 0.198997497421324; x1 = 0.899496223524584
  //   t=2: g = 1.79899244704917, v = 0.0719637382453995, m = 0.0377899244704917; x2 = 0.831759379711545
  //   t=3: x3 = 0.778068410753411
  auto x = scalar_param(1.0);
  tg::optim::RMSprop opt({x}, {.lr = 0.01, .centered = true});
  optim_steps::expect_quadratic_steps(opt, x, {0.899496223524584, 0.831759379711545, 0.778068410753411}, 1e-14);
  std::vector<std::string> names;
  for (const auto& [name, t] : opt.state_dict()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"lr", "0.step", "0.square_avg", "0.grad_avg"}));
}

TEST(OptimRMSprop, RejectsBadOptions) {
  auto x = scalar_param(1.0);
  EXPECT_THROW(tg::optim::RMSprop({x}, {.lr = -1.0}), tg::Error);
  EXPECT_THROW(tg::optim::RMSprop({x}, {.alpha = -0.5}), tg::Error);
  EXPECT_THROW(tg::optim::RMSprop({x}, {.eps = -1.0}), tg::Error);
  EXPECT_THROW(tg::optim::RMSprop({x}, {.momentum = -0.1}), tg::Error);
}

TEST(OptimRMSprop, TrainsLeastSquares) {
  // y = X [1.5, -2, 0.5]^T + 0.3 exactly, X 64x3 standard normal, centered with momentum.
  tg::Generator gen(1);
  auto X = tg::randn({64, 3}, gen, tg::Dtype::f64);
  auto target = tg::matmul(X, tg::tensor({{1.5}, {-2.0}, {0.5}}, tg::Dtype::f64)) + 0.3;
  auto W = tg::zeros({3, 1}, tg::Dtype::f64).requires_grad(true);
  auto b = tg::zeros({1}, tg::Dtype::f64).requires_grad(true);
  tg::optim::RMSprop opt({W, b}, {.lr = 1e-3, .momentum = 0.9, .centered = true});
  auto loss = [&] { return tg::mse_loss(tg::matmul(X, W) + b, target); };
  for (int i = 0; i < 2000; ++i) {
    opt.zero_grad();
    loss().backward();
    opt.step();
  }
  EXPECT_LT(loss().item(), 1e-6);
}
