// clip_grad_norm: the total norm over all gradients and the scaling, by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
tg::Tensor param_with_grad(std::vector<double> g) {
  auto p = tg::zeros({static_cast<int64_t>(g.size())}, tg::Dtype::f64).requires_grad(true);
  p.set_grad(tg::from_vector(g, {static_cast<int64_t>(g.size())}, tg::Dtype::f64));
  return p;
}
}  // namespace

TEST(OptimClip, ScalesByMaxNormOverTotalNorm) {
  // Gradients [3] and [4, 0]: total 2-norm sqrt(9 + 16) = 5 > 1, so every gradient is multiplied
  // by 1 / (5 + 1e-6): [0.59999988, ...], [0.79999984, 0].
  auto a = param_with_grad({3.0}), b = param_with_grad({4.0, 0.0});
  double total = tg::optim::clip_grad_norm({a, b}, 1.0);
  EXPECT_DOUBLE_EQ(total, 5.0);
  EXPECT_NEAR(a.grad().item(), 3.0 / 5.000001, 1e-15);
  EXPECT_NEAR(b.grad().at({0}), 4.0 / 5.000001, 1e-15);
  EXPECT_EQ(b.grad().at({1}), 0.0);
  // The clipped norm is now 5/5.000001, just under 1: clipping again changes nothing.
  const double again = tg::optim::clip_grad_norm({a, b}, 1.0);
  EXPECT_NEAR(again, 5.0 / 5.000001, 1e-15);
  EXPECT_NEAR(a.grad().item(), 3.0 / 5.000001, 1e-15);
}

TEST(OptimClip, LeavesSmallGradientsAlone) {
  auto a = param_with_grad({0.3, -0.4});  // norm 0.5 < 1
  const uint32_t version = a.grad().version();
  EXPECT_DOUBLE_EQ(tg::optim::clip_grad_norm({a}, 1.0), 0.5);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.3, -0.4}));
  EXPECT_EQ(a.grad().version(), version);
}

TEST(OptimClip, OtherNorms) {
  // 1-norm of [3, -4] and [1]: 8; clip to 4 scales by 4 / (8 + 1e-6).
  auto a = param_with_grad({3.0, -4.0}), b = param_with_grad({1.0});
  EXPECT_DOUBLE_EQ(tg::optim::clip_grad_norm({a, b}, 4.0, 1.0), 8.0);
  EXPECT_NEAR(a.grad().at({1}), -4.0 * 4.0 / 8.000001, 1e-15);
  // Infinity norm: the largest |g|, here 4 * 4/8.000001 = 1.9999997...
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_NEAR(tg::optim::clip_grad_norm({a, b}, 10.0, inf), 16.0 / 8.000001, 1e-15);
  // 3-norm of [1, 2] and [2]: (1 + 8 + 8)^(1/3) = 17^(1/3) = 2.571281590658235.
  auto c = param_with_grad({1.0, 2.0}), d = param_with_grad({2.0});
  EXPECT_NEAR(tg::optim::clip_grad_norm({c, d}, 10.0, 3.0), 2.571281590658235, 1e-14);
}

TEST(OptimClip, SkipsParametersWithoutGradientAndWorksInFloat32) {
  auto none = tg::zeros({2}).requires_grad(true);
  EXPECT_EQ(tg::optim::clip_grad_norm({none}, 1.0), 0.0);
  auto f = tg::zeros({2}).requires_grad(true);
  f.set_grad(tg::tensor({6.0, 8.0}));  // norm 10
  EXPECT_DOUBLE_EQ(tg::optim::clip_grad_norm({none, f}, 5.0), 10.0);
  EXPECT_FALSE(none.has_grad());
  EXPECT_FLOAT_EQ(f.grad().to_vector<float>()[0], static_cast<float>(6.0 * 5.0 / 10.000001));
  EXPECT_EQ(f.grad().dtype(), tg::Dtype::f32);
}

TEST(OptimClip, NonFiniteNormAndBadArguments) {
  auto a = param_with_grad({std::nan(""), 1.0});
  EXPECT_THROW(tg::optim::clip_grad_norm({a}, 1.0, 2.0, /*error_if_nonfinite=*/true), tg::Error);
  EXPECT_TRUE(std::isnan(tg::optim::clip_grad_norm({a}, 1.0)));
  auto b = param_with_grad({1.0});
  EXPECT_THROW(tg::optim::clip_grad_norm({b}, 1.0, 0.0), tg::Error);
  EXPECT_THROW(tg::optim::clip_grad_norm({b}, -1.0), tg::Error);
}

// A NaN anywhere, in any parameter, makes the total NaN for every norm type: it is never hidden
// behind a larger finite element (std::max(acc, NaN) keeps acc).
TEST(OptimClip, ANanGradientIsNeverHiddenFromTheTotal) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double norm_type : {1.0, 2.0, 3.0, inf})
    for (size_t at = 0; at < 3; ++at) {
      std::vector<double> g = {3.0, -5.0, 0.5};
      g[at] = std::nan("");
      auto a = param_with_grad({1.0}), b = param_with_grad(g), c = param_with_grad({2.0});
      EXPECT_TRUE(std::isnan(tg::optim::clip_grad_norm({a, b, c}, 1.0, norm_type)))
          << "norm " << norm_type << ", NaN at " << at;
      auto d = param_with_grad(g);
      EXPECT_THROW(tg::optim::clip_grad_norm({d}, 1.0, norm_type, /*error_if_nonfinite=*/true), tg::Error)
          << "norm " << norm_type << ", NaN at " << at;
    }
}
