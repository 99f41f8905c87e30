// The backward ops of the reductions, statistics and batch_norm (issue 27): each is a registered
// op with checks of its own at first and second order, and the forward's backward calls it, so
// that a plain backward and a create_graph backward run the same formula.
#include <gtest/gtest.h>

#include "backward_ops.h"

#include <set>
#include <string>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
const std::set<std::string> kBackwardOps = {"max_backward", "min_backward",       "prod_backward",
                                            "logsumexp_backward", "var_backward", "std_backward",
                                            "norm_backward", "batch_norm_reduce_backward",
                                            "batch_norm_elemt_backward"};
}  // namespace

// Every backward op of the family is registered and passes the checks every op gets.
TEST(BackwardOpsReduce, EachIsRegisteredAndPassesItsChecks) {
  expect_registered_and_checked(kBackwardOps);
}

namespace {
struct Case {
  const char* backward_op;
  tg::Tensor (*f)(const tg::Tensor&);
};
// Inputs away from ties and zeros, in float64 and float32.
tg::Tensor sample_input(tg::Dtype d) {
  return tg::tensor({{0.3, -1.2, 2.1, 0.7}, {1.4, 0.2, -0.6, -2.3}, {-0.9, 1.7, 0.5, 1.1}}, d);
}
const Case kCases[] = {
    {"max_backward", [](const tg::Tensor& x) { return tg::max(x, 1); }},
    {"min_backward", [](const tg::Tensor& x) { return tg::min(x, 0, true); }},
    {"prod_backward", [](const tg::Tensor& x) { return tg::prod(x, 1); }},
    {"logsumexp_backward", [](const tg::Tensor& x) { return tg::logsumexp(x, -1); }},
    {"var_backward", [](const tg::Tensor& x) { return tg::var(x, 0); }},
    {"std_backward", [](const tg::Tensor& x) { return tg::std(x, 1, true, 0); }},
    {"norm_backward", [](const tg::Tensor& x) { return tg::norm(x); }},
    {"batch_norm_elemt_backward",
     [](const tg::Tensor& x) { return tg::batch_norm(x, tg::Tensor(), tg::Tensor(), tg::Tensor(), tg::Tensor()); }},
};
}  // namespace

// A create_graph pass records the gradient as one node of the backward op (before, a chain of
// library ops beside the fused kernel), and its value is the plain pass's, bit for bit: both run
// the op's one kernel.
TEST(BackwardOpsReduce, ThePlainAndTheCreateGraphPassRunTheSameOp) {
  for (tg::Dtype d : {tg::Dtype::f64, tg::Dtype::f32})
    for (const Case& c : kCases) {
      const tg::Tensor x = sample_input(d).requires_grad(true);
      expect_one_formula(c.backward_op, x, c.f);
    }
}

// A compiled step replays the forwards at new inputs, and its backward routes each lane's gradient
// to the new inputs' extreme elements and uses their statistics, as eager mode does, bitwise
// (max's backward op gets the argmax its forward found at this call, not at compile time).
TEST(BackwardOpsReduce, ACompiledStepGivesTheEagerGradients) {
  for (const Case& c : kCases) {
    tg::TensorFn f = [&c](const std::vector<tg::Tensor>& in) { return tg::sum(tg::square(c.f(in[0]))); };
    tg::Compiled step = tg::compile(f, {sample_input(tg::Dtype::f64).requires_grad(true)});
    // The maximum of every row and column moves to another element.
    const tg::Tensor x = (sample_input(tg::Dtype::f64) * -1.0 + 0.1).requires_grad(true);
    step({x}).backward();
    const tg::Tensor eager = x.detach().clone().requires_grad(true);
    f({eager}).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), eager.grad().to_vector<double>()) << c.backward_op;
  }
}
