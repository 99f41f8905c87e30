// The backward ops of matmul, the choosing ops (where, clamp, maximum, minimum), the pools, conv2d
// and the elementwise ops (issue 27): each is a registered op with checks of its own at first and
// second order, and the forward's backward calls it, so that a plain backward and a create_graph
// backward run the same formula.
#include <gtest/gtest.h>

#include "backward_ops.h"

#include <set>
#include <string>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
const std::set<std::string> kBackwardOps = {"gemm",           "batched_gemm",       "clamp_backward",
                                            "maximum_backward", "minimum_backward", "conv2d_bias_grad",
                                            "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_backward",
                                            "avg_pool2d_backward", "tanh_backward",  "elu_backward"};
}  // namespace

// Every backward op of the family is registered and passes the checks every op gets.
TEST(BackwardOpsLinalg, EachIsRegisteredAndPassesItsChecks) {
  expect_registered_and_checked(kBackwardOps);
}

namespace {
// f of the variable x (the others fixed), and the op that computes x's gradient.
struct Case {
  const char* backward_op;
  tg::Tensor (*f)(const tg::Tensor& x);
  tg::Shape shape;
};
// Values away from ties, zeros and clamp's bounds, in float64 and float32.
tg::Tensor values(const tg::Shape& shape, double scale, tg::Dtype d) {
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  for (size_t k = 0; k < v.size(); ++k) v[k] = scale * (0.37 * static_cast<double>(k % 7) - 1.13 + 0.05 * static_cast<double>(k));
  return tg::from_vector(v, shape, d);
}
const Case kCases[] = {
    {"gemm", [](const tg::Tensor& x) { return tg::matmul(x, values({3, 4}, 0.5, x.dtype())); }, {2, 3}},
    {"gemm", [](const tg::Tensor& x) { return tg::matmul(values({2, 3}, 0.5, x.dtype()), x); }, {3}},
    {"batched_gemm", [](const tg::Tensor& x) { return tg::matmul(x, values({3, 4}, 0.5, x.dtype())); }, {2, 2, 3}},
    {"where",
     [](const tg::Tensor& x) {
       return tg::where(tg::greater(values({2, 3}, 1.0, x.dtype()), 0.0), x, values({2, 3}, 2.0, x.dtype()));
     },
     {2, 3}},
    {"clamp_backward", [](const tg::Tensor& x) { return tg::clamp(x, -0.5, 0.55); }, {2, 3}},
    {"maximum_backward", [](const tg::Tensor& x) { return tg::maximum(x, values({3}, -0.3, x.dtype())); }, {2, 3}},
    {"minimum_backward", [](const tg::Tensor& x) { return tg::minimum(x, values({2, 3}, 0.7, x.dtype())); }, {2, 3}},
    {"max_pool2d_backward", [](const tg::Tensor& x) { return tg::max_pool2d(x, {.kernel = 2}); }, {1, 2, 4, 4}},
    {"avg_pool2d_backward", [](const tg::Tensor& x) { return tg::avg_pool2d(x, {.kernel = 2}); }, {1, 2, 4, 4}},
    {"conv2d_input_grad",
     [](const tg::Tensor& x) { return tg::conv2d(x, values({3, 2, 3, 3}, 0.2, x.dtype()), {.padding = 1}); },
     {1, 2, 4, 4}},
    {"conv2d_weight_grad",
     [](const tg::Tensor& w) { return tg::conv2d(values({2, 2, 4, 4}, 0.3, w.dtype()), w, {.padding = 1}); },
     {3, 2, 3, 3}},
    {"conv2d_bias_grad",
     [](const tg::Tensor& b) {
       return tg::conv2d(values({2, 2, 4, 4}, 0.3, b.dtype()), values({3, 2, 3, 3}, 0.2, b.dtype()), b);
     },
     {3}},
    {"tanh_backward", [](const tg::Tensor& x) { return tg::tanh(x); }, {2, 3}},
    {"elu_backward", [](const tg::Tensor& x) { return tg::elu(x, 0.5); }, {2, 3}},
};
}  // namespace

// A create_graph pass records the gradient as a node of the backward op (before, library ops
// beside the fused kernel), and its value is the plain pass's, bit for bit: both run the op's one
// kernel.
TEST(BackwardOpsLinalg, ThePlainAndTheCreateGraphPassRunTheSameOp) {
  for (tg::Dtype d : {tg::Dtype::f64, tg::Dtype::f32})
    for (const Case& c : kCases) {
      const tg::Tensor x = values(c.shape, 0.9, d).requires_grad(true);
      expect_one_formula(c.backward_op, x, c.f);
    }
}
