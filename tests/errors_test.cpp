// Bad input gets a tg::Error whose message names the op and the shapes.
#include <gtest/gtest.h>

#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

TEST(Errors, MessagesNameTheOpAndTheShapes) {
  EXPECT_EQ(message_of([] { tg::matmul(tg::zeros({2, 3}), tg::zeros({4, 5})); }),
            "matmul: inner dimensions differ: [2, 3] x [4, 5]");
  EXPECT_EQ(message_of([] { tg::add(tg::zeros({2, 3}), tg::zeros({4})); }),
            "add: shapes [2, 3] and [4] cannot be broadcast (dimension 1: 3 vs 4)");
  EXPECT_EQ(message_of([] { tg::sum(tg::zeros({2, 3}), 2); }), "sum: axis 2 is out of range for shape [2, 3] (rank 2)");
  EXPECT_EQ(message_of([] { tg::mul(tg::zeros({2}), tg::zeros({2}, tg::Dtype::f64)); }),
            "mul: dtypes differ: [2] float32 and [2] float64 (convert one with to(Dtype))");
  EXPECT_EQ(message_of([] { tg::softmax_cross_entropy(tg::zeros({100, 10}), std::vector<int64_t>(99, 0)); }),
            "softmax_cross_entropy: labels has 99 entries but logits has batch 100");
  EXPECT_EQ(message_of([] { tg::softmax_cross_entropy(tg::zeros({2, 10}), std::vector<int64_t>{1, 10}); }),
            "softmax_cross_entropy: label 10 at position 1 is not a class index in [0, 10)");
  EXPECT_EQ(message_of([] { tg::reshape(tg::zeros({2, 3}), {4, 2}); }),
            "reshape: cannot reshape [2, 3] (6 elements) into [4, 2] (8 elements)");
  EXPECT_EQ(message_of([] { tg::transpose(tg::zeros({2, 3, 4})); }),
            "transpose: expected a 2-D tensor, got shape [2, 3, 4]");
  EXPECT_EQ(message_of([] { tg::zeros({2, 3}).at({0, 3}); }), "at: index [0, 3] is out of range for shape [2, 3]");
  EXPECT_EQ(message_of([] { tg::zeros({2, 3}).item(); }),
            "item: expected a tensor with one element, got shape [2, 3] (6 elements)");
  EXPECT_EQ(message_of([] { tg::mse_loss(tg::zeros({3, 1}), tg::zeros({3})); }).substr(0, 50),
            "mse_loss: prediction [3, 1] and target [3] differ ");
  EXPECT_EQ(message_of([] { tg::matmul(tg::zeros({3}), tg::zeros({3})); }),
            "matmul: expected 2-D x 2-D, 1-D x 2-D or 2-D x 1-D, got [3] x [3]");
  EXPECT_EQ(message_of([] { tg::exp(tg::Tensor()); }), "exp: input 0 is undefined (default-constructed)");
}

TEST(Errors, ErrorDerivesFromRuntimeError) {
  try {
    tg::matmul(tg::zeros({2, 3}), tg::zeros({4, 5}));
  } catch (const std::runtime_error& e) {
    SUCCEED();
    return;
  }
  FAIL();
}

TEST(Errors, StableAtExtremeLogits) {
  auto logits = tg::tensor({{1e4, -1e4, 0.0}, {-1e4, 1e4, 5e3}}).requires_grad(true);
  auto loss = tg::softmax_cross_entropy(logits, std::vector<int64_t>{1, 1});
  EXPECT_TRUE(std::isfinite(loss.item()));
  EXPECT_NEAR(loss.item(), 1e4, 1);
  loss.backward();
  for (float g : logits.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
  for (float v : tg::softmax(logits, 1).to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
  for (float v : tg::log_softmax(logits, 1).to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
  auto s = tg::sigmoid(tg::tensor({-1e4, 1e4}));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{0.0f, 1.0f}));
  auto bce = tg::binary_cross_entropy_with_logits(tg::tensor({1e4, -1e4}, tg::Dtype::f64),
                                                  tg::tensor({0.0, 1.0}, tg::Dtype::f64));
  EXPECT_NEAR(bce.item(), 1e4, 1e-6);
}

// Both overloads of softmax_cross_entropy refuse an empty batch with the same message.
TEST(Errors, SoftmaxCrossEntropyOverloadsAgreeOnAnEmptyBatch) {
  const tg::Tensor logits = tg::zeros({0, 3});
  std::string a, b;
  try {
    tg::softmax_cross_entropy(logits, std::vector<int64_t>{});
  } catch (const tg::Error& e) {
    a = e.what();
  }
  try {
    tg::softmax_cross_entropy(logits, tg::zeros({0}));
  } catch (const tg::Error& e) {
    b = e.what();
  }
  EXPECT_EQ(a, "softmax_cross_entropy: the batch is empty [0, 3]");
  EXPECT_EQ(a, b);
}

// The loss node keeps its own labels: changing the caller's label tensor after the forward
// changes neither the gradient nor memory outside it (labels.fill_(1e9) was a segfault).
TEST(Errors, LabelsChangedAfterTheForwardDoNotReachTheBackward) {
  tg::Tensor logits = tg::tensor({{1.0, 2.0, 3.0}, {0.5, 0.1, -1.0}}, tg::Dtype::f64).requires_grad(true);
  tg::Tensor labels = tg::tensor({2.0, 0.0}, tg::Dtype::f64);
  tg::Tensor loss = tg::softmax_cross_entropy(logits, labels);
  loss.backward({.retain_graph = true});
  const std::vector<double> expected = logits.grad().to_vector<double>();
  logits.zero_grad();
  labels.fill_(1e9);
  loss.backward();
  EXPECT_EQ(logits.grad().to_vector<double>(), expected);
}

// Every registered op, given bad inputs, throws a tg::Error that starts with the op's own name
// (not that of an op it is built from) and names what it got: an undefined tensor in each
// argument position; for two or more arguments, a float32 argument among float64 ones (both
// dtypes named); and an argument of a shape that fits none of them (both shapes named).
// Exceptions, by design: one_hot's registry input only carries a dtype, and labels (data inputs)
// are converted to the logits' dtype, so a loss with labels has no dtype mismatch to report.
TEST(Errors, EveryOpNamesItselfAndWhatItGot) {
  tg::Generator gen(3);
  int cases = 0;
  for (const tg::OpEntry& e : tg::op_registry()) {
    const std::vector<tg::OpSample> samples = e.samples(tg::Dtype::f64, gen);
    ASSERT_FALSE(samples.empty()) << e.name;
    const std::vector<tg::Tensor>& good = samples.front().inputs;
    const std::string who = e.name + " [" + e.variant + "]";
    auto expect = [&](std::vector<tg::Tensor> in, const std::string& what, const std::vector<std::string>& parts) {
      const std::string msg = message_of([&] { e.fn(in); });
      EXPECT_EQ(msg.rfind(e.name + ":", 0), 0u) << who << ", " << what << ": " << msg;
      for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << who << ", " << what << ": '" << p << "' missing from: " << msg;
      ++cases;
    };
    for (size_t i = 0; i < good.size() && e.name != "one_hot"; ++i) {
      std::vector<tg::Tensor> in = good;
      in[i] = tg::Tensor();
      expect(in, "undefined input " + std::to_string(i), {"undefined"});
    }
    if (good.size() < 2) continue;
    for (size_t i = 0; i < good.size() && e.nondiff_inputs.empty(); ++i) {
      std::vector<tg::Tensor> in = good;
      in[i] = in[i].to(tg::Dtype::f32);
      // As variables, which they are in this entry: softmax_cross_entropy converts target
      // probabilities that are data, but not those that require gradients.
      if (e.differentiable)
        for (tg::Tensor& t : in) t = t.detach().clone().requires_grad(true);
      expect(in, "float32 input " + std::to_string(i), {"float32", "float64"});
    }
    std::vector<tg::Tensor> in = good;
    in[1] = tg::zeros({5, 7}, tg::Dtype::f64);
    expect(in, "input 1 of shape [5, 7]", {"[5, 7]", good[0].shape().str()});
  }
  EXPECT_GT(cases, 60);
}

// An optimizer's step() between forward and backward is a call-order mistake: the message says
// so and names the parameter by its place in the model, instead of suggesting clone().
TEST(Errors, AStepBeforeBackwardNamesTheParameterAndTheCallOrder) {
  tg::Generator gen(1);
  tg::nn::Sequential model{tg::nn::Linear(3, 4, {.generator = &gen}), tg::nn::ReLU(),
                          tg::nn::Linear(4, 2, {.generator = &gen})};
  tg::optim::SGD opt(model.parameters(), {.lr = 0.1});
  const tg::Tensor x = tg::ones({5, 3});
  tg::mean(model(x)).backward();  // every parameter now has a gradient, so step() writes all of them
  tg::Tensor loss = tg::mean(model(x));
  opt.step();  // too early: loss.backward() has not run
  const std::string msg = message_of([&] { loss.backward(); });
  EXPECT_NE(msg.find("(Sequential[2]."), std::string::npos) << msg;
  EXPECT_NE(msg.find("modified in place by SGD.step()"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Call backward() before step()"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("clone()"), std::string::npos) << "clone() is not the fix here: " << msg;
  tg::Tape::current().clear();

  // A tensor method still gets the clone() advice, and a tensor outside any module no label.
  tg::Tensor w = tg::ones({2}).requires_grad(true);
  tg::Tensor y = tg::sum(w * w);
  {
    tg::NoGradGuard no_grad;
    w.mul_(2.0);
  }
  EXPECT_EQ(message_of([&] { y.backward(); }),
            "mul (node 0): input 0 of shape [2] was modified in place by mul_ after it was recorded; its backward "
            "needs the original values (clone() before changing it)");
  tg::Tape::current().clear();
}
