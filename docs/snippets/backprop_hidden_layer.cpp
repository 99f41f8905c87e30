// The 2-2-2 network with sigmoid units (inputs 0.05, 0.10; targets 0.01, 0.99), one step of lr 0.5.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

void print2x2(const char* name, const tg::Tensor& m) {
  std::printf("%s = [[%.9f, %.9f], [%.9f, %.9f]]\n", name, m.at({0, 0}), m.at({0, 1}), m.at({1, 0}), m.at({1, 1}));
}

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor x = tg::tensor({{0.05, 0.10}}, d);
  tg::Tensor t = tg::tensor({{0.01, 0.99}}, d);
  // {in, out} layout: W1[i][j] is the weight from input i to hidden unit j (the figure above).
  tg::Tensor W1 = tg::tensor({{0.15, 0.25}, {0.20, 0.30}}, d).requires_grad(true);
  tg::Tensor b1 = tg::tensor({0.35, 0.35}, d).requires_grad(true);
  tg::Tensor W2 = tg::tensor({{0.40, 0.50}, {0.45, 0.55}}, d).requires_grad(true);
  tg::Tensor b2 = tg::tensor({0.60, 0.60}, d).requires_grad(true);

  tg::Tensor h = tg::sigmoid(tg::matmul(x, W1) + b1);   // hidden layer
  tg::Tensor y = tg::sigmoid(tg::matmul(h, W2) + b2);   // output layer
  tg::Tensor E = tg::sum(tg::square(y - t)) / 2.0;
  E.backward();

  std::printf("h = (%.9f, %.9f)\n", h.at({0, 0}), h.at({0, 1}));
  std::printf("y = (%.9f, %.9f)\n", y.at({0, 0}), y.at({0, 1}));
  std::printf("E = %.9f\n", E.item());

  {
    // The deltas by hand, the error signal at each unit's input (dE/dnet), to compare with the
    // hand calculation. backward() computed the same products; it keeps only the leaves' results.
    tg::NoGradGuard no_grad;
    tg::Tensor delta_y = (y - t) * y * (1.0 - y);
    tg::Tensor delta_h = tg::matmul(delta_y, tg::transpose(W2)) * h * (1.0 - h);
    std::printf("delta_y = (%.9f, %.9f)\n", delta_y.at({0, 0}), delta_y.at({0, 1}));
    std::printf("delta_h = (%.9f, %.9f)\n", delta_h.at({0, 0}), delta_h.at({0, 1}));
    print2x2("h^T delta_y", tg::matmul(tg::transpose(h), delta_y));
  }
  print2x2("dE/dW2     ", W2.grad());
  print2x2("dE/dW1", W1.grad());

  tg::optim::SGD opt({W1, W2}, {.lr = 0.5});  // the classic example leaves the biases fixed
  opt.step();
  std::printf("after one step: W2[0][0] = %.8f, W1[0][0] = %.8f\n", W2.at({0, 0}), W1.at({0, 0}));
  tg::Tensor y2 = tg::sigmoid(tg::matmul(tg::sigmoid(tg::matmul(x, W1) + b1), W2) + b2);
  std::printf("E after one step = %.9f\n", (tg::sum(tg::square(y2 - t)) / 2.0).item());
}
