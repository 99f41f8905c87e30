// The 2-2-2 network with sigmoid units (inputs 0.05, 0.10; targets 0.01, 0.99), one step of lr 0.5.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor x = tg::tensor({{0.05, 0.10}}, d);
  tg::Tensor t = tg::tensor({{0.01, 0.99}}, d);
  // {in, out} layout: W1[i][j] is the weight from input i to hidden unit j.
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
  std::printf("dE/dW2 = [[%.9f, %.9f], [%.9f, %.9f]]\n", W2.grad().at({0, 0}), W2.grad().at({0, 1}),
              W2.grad().at({1, 0}), W2.grad().at({1, 1}));
  std::printf("dE/dW1 = [[%.9f, %.9f], [%.9f, %.9f]]\n", W1.grad().at({0, 0}), W1.grad().at({0, 1}),
              W1.grad().at({1, 0}), W1.grad().at({1, 1}));

  tg::optim::SGD opt({W1, W2}, {.lr = 0.5});  // the classic example leaves the biases fixed
  opt.step();
  std::printf("after one step: W2[0][0] = %.8f, W1[0][0] = %.8f\n", W2.at({0, 0}), W1.at({0, 0}));
  tg::Tensor y2 = tg::sigmoid(tg::matmul(tg::sigmoid(tg::matmul(x, W1) + b1), W2) + b2);
  std::printf("E after one step = %.9f\n", (tg::sum(tg::square(y2 - t)) / 2.0).item());
}
