// SGD: the update rule against hand-worked steps, training, and its checks.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "optim_steps.h"

namespace tg = tapegrad;
using optim_steps::quadratic_step;
using optim_steps::scalar_param;

TEST(OptimSGD, PlainStepsOnQuadratic) {
  // lr 0.1, x0 = 1, g = 2x:  x1 = 1 - 0.1*2 = 0.8;  x2 = 0.8 - 0.1*1.6 = 0.64;  x3 = 0.64 - 0.128 = 0.512.
  auto x = scalar_param(1.0);
  tg::optim::SGD opt({x}, {.lr = 0.1});
  optim_steps::expect_quadratic_steps(opt, x, {0.8, 0.64, 0.512}, 1e-15);
}

TEST(OptimSGD, MomentumStepsOnQuadratic) {
  // lr 0.1, momentum 0.9, x0 = 1:
  //   step 1: g = 2,    buf = g = 2 (first step copies),        x1 = 1 - 0.2 = 0.8
  //   step 2: g = 1.6,  buf = 0.9*2 + 1.6 = 3.4,                x2 = 0.8 - 0.34 = 0.46
  //   step 3: g = 0.92, buf = 0.9*3.4 + 0.92 = 3.98,            x3 = 0.46 - 0.398 = 0.062
  auto x = scalar_param(1.0);
  tg::optim::SGD opt({x}, {.lr = 0.1, .momentum = 0.9});
  optim_steps::expect_quadratic_steps(opt, x, {0.8, 0.46, 0.062}, 1e-14);
}

TEST(OptimSGD, DampeningSkipsTheFirstStep) {
  // lr 0.1, momentum 0.9, dampening 0.5, x0 = 1:
  //   step 1: g = 2,    buf = 2 (no dampening on the copy),     x1 = 0.8
  //   step 2: g = 1.6,  buf = 0.9*2 + 0.5*1.6 = 2.6,            x2 = 0.8 - 0.26 = 0.54
  //   step 3: g = 1.08, buf = 0.9*2.6 + 0.5*1.08 = 2.88,        x3 = 0.54 - 0.288 = 0.252
  auto x = scalar_param(1.0);
  tg::optim::SGD opt({x}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  optim_steps::expect_quadratic_steps(opt, x, {0.8, 0.54, 0.252}, 1e-14);
}

TEST(OptimSGD, NesterovStepsOnQuadratic) {
  // lr 0.1, momentum 0.9, Nesterov, x0 = 1:
  //   step 1: g = 2,    buf = 2,                    d = 2 + 0.9*2 = 3.8,          x1 = 1 - 0.38 = 0.62
  //   step 2: g = 1.24, buf = 0.9*2 + 1.24 = 3.04,  d = 1.24 + 0.9*3.04 = 3.976,  x2 = 0.62 - 0.3976 = 0.2224
  auto x = scalar_param(1.0);
  tg::optim::SGD opt({x}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.62, 1e-15);
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.2224, 1e-15);
}

TEST(OptimSGD, WeightDecayIsAddedToTheGradient) {
  // lr 0.1, weight_decay 0.1: g = 2x + 0.1x = 2.1x, so x <- 0.79 x:  x1 = 0.79,  x2 = 0.6241.
  // The caller's gradient itself is not changed (it stays 2x).
  auto x = scalar_param(1.0);
  tg::optim::SGD opt({x}, {.lr = 0.1, .weight_decay = 0.1});
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.79, 1e-15);
  EXPECT_EQ(x.grad().item(), 2.0);
  quadratic_step(opt, x);
  EXPECT_NEAR(x.item(), 0.6241, 1e-15);
}

TEST(OptimSGD, UpdatesElementwiseInFloat32) {
  // f32 parameter [1, -2], lr 0.25, g = 2x: x1 = x - 0.5x = [0.5, -1] (exact in float); state stays f32.
  auto x = tg::tensor({1.0, -2.0}, tg::Dtype::f32).requires_grad(true);
  tg::optim::SGD opt({x}, {.lr = 0.25, .momentum = 0.5});
  quadratic_step(opt, x);
  EXPECT_EQ(x.dtype(), tg::Dtype::f32);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{0.5f, -1.0f}));
  for (const auto& [name, t] : opt.state_dict())
    if (name == "0.momentum_buffer") {
      EXPECT_EQ(t.dtype(), tg::Dtype::f32);
    }
}

TEST(OptimSGD, WritesTheCallersStorageAndBumpsItsVersion) {
  auto w = tg::tensor({1.0, 2.0}, tg::Dtype::f64).requires_grad(true);
  tg::Tensor alias = w;  // another handle to the same storage
  tg::optim::SGD opt({w}, {.lr = 0.5});
  auto y = tg::sum(tg::square(w));  // saves w for backward
  y.backward({.retain_graph = true});
  const uint32_t before = w.version();
  opt.step();
  EXPECT_GT(w.version(), before);
  EXPECT_EQ(alias.to_vector<double>(), (std::vector<double>{0.0, 0.0}));  // w - 0.5 * 2w
  // The retained graph saved the old w: using it again must be refused, not silently wrong.
  EXPECT_THROW(y.backward(), tg::Error);
  // The failed backward leaves its pending gradient on this thread's tape, where it would make every
  // later backward on the thread throw too (reported to the core's owners); drop it.
  tg::Tape::current().clear();
}

TEST(OptimSGD, SkipsParametersWithoutGradient) {
  auto used = scalar_param(1.0), unused = scalar_param(5.0);
  tg::optim::SGD opt({used, unused}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
  quadratic_step(opt, used);
  EXPECT_FALSE(unused.has_grad());
  EXPECT_EQ(unused.item(), 5.0);  // not even weight decay touches it
  for (const auto& [name, t] : opt.state_dict()) {
    if (name == "0.step") {
      EXPECT_EQ(t.item(), 1.0);
    }
    if (name == "1.step") {
      EXPECT_EQ(t.item(), 0.0);
    }
  }
}

TEST(OptimSGD, ZeroGradDropsOrZerosGradients) {
  auto x = scalar_param(1.0);
  tg::optim::SGD opt({x}, {.lr = 0.1});
  tg::sum(tg::square(x)).backward();
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(x.has_grad());
  EXPECT_EQ(x.grad().item(), 0.0);
  opt.zero_grad();
  EXPECT_FALSE(x.has_grad());
  opt.step();  // nothing to do
  EXPECT_EQ(x.item(), 1.0);
}

TEST(OptimSGD, RejectsBadOptionsAndParameters) {
  auto x = scalar_param(1.0);
  EXPECT_THROW(tg::optim::SGD({}, {.lr = 0.1}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({x}, {.lr = -0.1}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({x}, {.lr = 0.1, .momentum = -0.5}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({x}, {.lr = 0.1, .nesterov = true}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({x}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({x}, {.lr = 0.1, .weight_decay = -1.0}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({x, x}, {.lr = 0.1}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({x * 2.0}, {.lr = 0.1}), tg::Error);
  EXPECT_THROW(tg::optim::SGD({tg::Tensor()}, {.lr = 0.1}), tg::Error);
  tg::optim::SGD opt({x}, {.lr = 0.1});
  EXPECT_THROW(opt.set_lr(-1.0), tg::Error);
  try {
    tg::optim::SGD({x}, {.lr = 0.1, .nesterov = true});
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Nesterov"), std::string::npos) << e.what();
  }
}

TEST(OptimSGD, MomentumTrainsRosenbrock) {
  // f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2); the minimum is 0 at (1, 1).
  auto x = tg::tensor(-1.5, tg::Dtype::f64).requires_grad(true);
  auto y = tg::tensor(2.0, tg::Dtype::f64).requires_grad(true);
  tg::optim::SGD opt({x, y}, {.lr = 1e-3, .momentum = 0.9});
  auto f = [&] { return tg::square(1.0 - x) + 100.0 * tg::square(y - tg::square(x)); };
  for (int i = 0; i < 5000; ++i) {
    opt.zero_grad();
    f().backward();
    opt.step();
  }
  EXPECT_LT(f().item(), 1e-6);
  EXPECT_NEAR(x.item(), 1.0, 1e-3);
  EXPECT_NEAR(y.item(), 1.0, 2e-3);
}

TEST(OptimSGD, TrainsLeastSquares) {
  // y = X [1.5, -2, 0.5]^T + 0.3 exactly, X 64x3 standard normal: the fit reaches loss 0.
  tg::Generator gen(1);
  auto X = tg::randn({64, 3}, gen, tg::Dtype::f64);
  auto target = tg::matmul(X, tg::tensor({{1.5}, {-2.0}, {0.5}}, tg::Dtype::f64)) + 0.3;
  auto W = tg::zeros({3, 1}, tg::Dtype::f64).requires_grad(true);
  auto b = tg::zeros({1}, tg::Dtype::f64).requires_grad(true);
  tg::optim::SGD opt({W, b}, {.lr = 0.1});
  auto loss = [&] { return tg::mse_loss(tg::matmul(X, W) + b, target); };
  for (int i = 0; i < 200; ++i) {
    opt.zero_grad();
    loss().backward();
    opt.step();
  }
  EXPECT_LT(loss().item(), 1e-12);
  EXPECT_NEAR(b.item(), 0.3, 1e-6);
}
