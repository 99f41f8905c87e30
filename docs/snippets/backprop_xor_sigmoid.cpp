// A sigmoid network learns XOR, which no single neuron can: 2-2-1, full batch, plain gradient descent.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor X = tg::tensor({{0.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {1.0, 1.0}}, d);
  tg::Tensor T = tg::tensor({{0.0}, {1.0}, {1.0}, {0.0}}, d);
  tg::Generator gen(1);
  tg::Tensor W1 = tg::randn({2, 2}, gen, d).requires_grad(true), b1 = tg::zeros({2}, d).requires_grad(true);
  tg::Tensor W2 = tg::randn({2, 1}, gen, d).requires_grad(true), b2 = tg::zeros({1}, d).requires_grad(true);
  tg::optim::SGD opt({W1, b1, W2, b2}, {.lr = 0.5});
  auto forward = [&] { return tg::sigmoid(tg::matmul(tg::sigmoid(tg::matmul(X, W1) + b1), W2) + b2); };

  for (int epoch = 0; epoch <= 5000; ++epoch) {
    tg::Tensor E = tg::sum(tg::square(forward() - T)) / 2.0;
    if (epoch % 1000 == 0) std::printf("epoch %4d  E = %.5f\n", epoch, E.item());
    opt.zero_grad();
    E.backward();
    opt.step();
  }
  tg::Tensor y = forward();
  for (int i = 0; i < 4; ++i) std::printf("%g xor %g -> %.3f\n", X.at({i, 0}), X.at({i, 1}), y.at({i, 0}));
}
