// A custom op, its gradient checked as part of a whole function and node by node.
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <iostream>

namespace tg = tapegrad;

// swish(x) = x * sigmoid(x); d/dx = s + x s (1 - s) with s = sigmoid(x).
const tg::Function swish(
    "swish",
    [](const std::vector<tg::Tensor>& in) { return in[0] * tg::sigmoid(in[0]); },  // runs unrecorded
    [](const tg::FunctionContext& c) {
      tg::Tensor s = tg::sigmoid(c.inputs[0]);
      return std::vector<tg::Tensor>{c.grad_output * (s + c.inputs[0] * s * (1.0 - s))};
    });

int main() {
  auto d = tg::Dtype::f64;
  tg::Generator gen(7);
  tg::Tensor X = tg::randn({4, 3}, gen, d);
  tg::Tensor W = tg::randn({3, 2}, gen, d);
  tg::Tensor b = tg::randn({2}, gen, d);

  // The function to check takes its inputs as a vector; every one of them is perturbed.
  auto layer = [](const std::vector<tg::Tensor>& in) {
    return tg::mean(swish({tg::matmul(in[0], in[1]) + in[2]}));
  };
  std::cout << tg::gradcheck(layer, {X, W, b});

  // The same check on a graph you already recorded: every node that `loss` depends on.
  tg::Tensor Wp = W.clone().requires_grad(true);
  tg::Tensor loss = tg::mean(swish({tg::matmul(X, Wp) + b}));
  std::cout << tg::gradcheck_nodes(loss);
}
