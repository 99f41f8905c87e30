// Prints the recorded graph of a small model as Graphviz DOT (rendered as docs/images/tape.png).
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  tg::Tensor x = tg::tensor({{0.05, 0.10}});                                // an input: no gradient
  tg::Tensor W = tg::tensor({{0.15, 0.25}, {0.20, 0.30}}).requires_grad(true);  // parameters
  tg::Tensor b = tg::tensor({0.35, 0.35}).requires_grad(true);
  tg::Tensor y = tg::sigmoid(tg::matmul(x, W) + b);
  tg::Tensor loss = tg::mse_loss(y, tg::tensor({{0.01, 0.99}}));
  std::cout << tg::to_dot(loss);
}
