// The backward ops of softmax, log_softmax, the losses and pow with a tensor exponent (issue 27):
// each is a registered op with checks of its own at first and second order, and the forward's
// backward calls it, so that a plain backward and a create_graph backward run the same formula.
#include <gtest/gtest.h>

#include "backward_ops.h"

#include <set>
#include <string>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
const std::set<std::string> kBackwardOps = {"softmax_backward",
                                            "log_softmax_backward",
                                            "softmax_cross_entropy_backward",
                                            "binary_cross_entropy_with_logits_backward",
                                            "pow_backward_self",
                                            "pow_backward_exponent"};
}  // namespace

// Every backward op of the family is registered and passes the checks every op gets.
TEST(BackwardOpsLoss, EachIsRegisteredAndPassesItsChecks) {
  expect_registered_and_checked(kBackwardOps);
}

// softmax_cross_entropy is one op: its three ways of being called are that op's registry
// entries, not entries of a second op or of hand-written RegisterOps beside it.
TEST(BackwardOpsLoss, SoftmaxCrossEntropyIsOneOpWithThreeSamples) {
  std::multiset<std::string> variants;
  for (const tg::OpEntry& e : tg::op_registry())
    if (e.name == "softmax_cross_entropy") variants.insert(e.variant);
  EXPECT_EQ(variants, (std::multiset<std::string>{"class indices", "probabilities",
                                                  "probabilities that require gradients"}));
}

namespace {
// f of the variable x (the others fixed), and the op that computes x's gradient.
struct Case {
  const char* backward_op;
  tg::Tensor (*f)(const tg::Tensor& x);
  tg::Shape shape;
};
// Values away from zero and ties, in float64 and float32.
tg::Tensor values(const tg::Shape& shape, double scale, double offset, tg::Dtype d) {
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  for (size_t k = 0; k < v.size(); ++k)
    v[k] = offset + scale * (0.37 * static_cast<double>(k % 7) - 1.13 + 0.05 * static_cast<double>(k));
  return tg::from_vector(v, shape, d);
}
const Case kCases[] = {
    {"softmax_backward", [](const tg::Tensor& x) { return tg::softmax(x, 1); }, {2, 3}},
    {"softmax_backward", [](const tg::Tensor& x) { return tg::softmax(x, 0); }, {2, 3}},
    {"log_softmax_backward", [](const tg::Tensor& x) { return tg::log_softmax(x, -1); }, {2, 3}},
    {"softmax_cross_entropy_backward",
     [](const tg::Tensor& x) { return tg::softmax_cross_entropy(x, std::vector<int64_t>{2, 0}); },
     {2, 3}},
    {"softmax_cross_entropy_backward",
     [](const tg::Tensor& x) { return tg::softmax_cross_entropy(x, tg::softmax(values({2, 3}, 1.0, 0.0, x.dtype()), 1)); },
     {2, 3}},
    {"binary_cross_entropy_with_logits_backward",
     [](const tg::Tensor& x) {
       return tg::binary_cross_entropy_with_logits(x, tg::sigmoid(values({2, 3}, 1.0, 0.0, x.dtype())));
     },
     {2, 3}},
    {"pow_backward_self", [](const tg::Tensor& x) { return tg::pow(x, values({2, 3}, 0.8, 0.5, x.dtype())); }, {2, 3}},
    {"pow_backward_exponent", [](const tg::Tensor& x) { return tg::pow(values({2, 3}, 0.2, 1.5, x.dtype()), x); }, {2, 3}},
};
}  // namespace

// A create_graph pass records the gradient as a node of the backward op (before, library ops
// beside the fused kernel), and its value is the plain pass's, bit for bit: both run the op's one
// kernel.
TEST(BackwardOpsLoss, ThePlainAndTheCreateGraphPassRunTheSameOp) {
  for (tg::Dtype d : {tg::Dtype::f64, tg::Dtype::f32})
    for (const Case& c : kCases) {
      // Positive, for pow's base; pow's exponent case fixes a positive base instead.
      const tg::Tensor x = values(c.shape, 0.4, 1.0, d).requires_grad(true);
      expect_one_formula(c.backward_op, x, c.f);
    }
}

// Target probabilities that require gradients: the loss's second derivative through both the
// logits and the targets, against finite differences of the first (gradgradcheck), at an
// upstream other than 1.
TEST(BackwardOpsLoss, CrossEntropyWithVariableTargetsHasASecondDerivative) {
  const tg::Tensor logits = values({3, 4}, 0.7, 0.0, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor t = tg::softmax(values({3, 4}, -0.5, 0.3, tg::Dtype::f64), 1).detach().requires_grad(true);
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(in[0], in[1]) * 1.7; };
  const tg::GradcheckReport r = tg::gradgradcheck(f, {logits, t});
  EXPECT_TRUE(r.ok) << r;
}
