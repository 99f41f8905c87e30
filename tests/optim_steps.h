#pragma once
// Shared by the optimizer tests: one-parameter problems stepped by hand.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace optim_steps {
namespace tg = tapegrad;

// One step on f(x) = sum(x^2), whose gradient is 2x.
inline void quadratic_step(tg::optim::Optimizer& opt, const tg::Tensor& x) {
  opt.zero_grad();
  tg::sum(tg::square(x)).backward();
  opt.step();
}

// A one-element parameter holding v.
inline tg::Tensor scalar_param(double v, tg::Dtype d = tg::Dtype::f64) { return tg::tensor({v}, d).requires_grad(true); }

// Takes one quadratic step per expected value and checks x after each.
inline void expect_quadratic_steps(tg::optim::Optimizer& opt, const tg::Tensor& x, std::initializer_list<double> expected,
                                   double tolerance) {
  int step = 0;
  for (double e : expected) {
    quadratic_step(opt, x);
    EXPECT_NEAR(x.item(), e, tolerance) << "after step " << ++step;
  }
}
}  // namespace optim_steps
