// Vanishing sigmoid gradients and dead ReLUs, measured.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  // sigmoid'(x) = s (1 - s) is at most 0.25, and tiny once |x| is a few units.
  tg::Tensor x = tg::tensor({0.0, 2.0, 5.0, 10.0}, d).requires_grad(true);
  tg::sum(tg::sigmoid(x)).backward();
  for (int i = 0; i < 4; ++i) std::printf("sigmoid'(%g) = %.6f\n", x.at({i}), x.grad().at({i}));

  // Through a chain of layers the factors multiply: 10 sigmoids shrink the gradient ~1e-7 times.
  for (const char* act : {"sigmoid", "tanh", "relu"}) {
    tg::Tensor a = tg::tensor(0.5, d).requires_grad(true);
    tg::Tensor h = a;
    for (int layer = 0; layer < 10; ++layer) {
      tg::Tensor z = 1.0 * h;  // a weight of 1: only the activation's derivative remains
      h = act[0] == 's' ? tg::sigmoid(z) : act[0] == 't' ? tg::tanh(z) : tg::relu(z);
    }
    h.backward();
    std::printf("d(10 %s layers)/da = %.3g\n", act, a.grad().item());
  }

  // A dead ReLU: its pre-activation is negative for every input, so its weights get no gradient
  // and never change. Leaky ReLU keeps a small slope there.
  tg::Tensor X = tg::tensor({{1.0, 2.0}, {2.0, 0.5}, {0.3, 0.3}}, d);
  tg::Tensor w = tg::tensor({-1.0, -1.0}, d).requires_grad(true);
  tg::Tensor b = tg::tensor(-0.1, d).requires_grad(true);
  tg::sum(tg::relu(tg::matmul(X, w) + b)).backward();
  std::printf("relu:       dw = (%g, %g), db = %g\n", w.grad().at({0}), w.grad().at({1}), b.grad().item());
  w.zero_grad();
  b.zero_grad();
  tg::sum(tg::leaky_relu(tg::matmul(X, w) + b, 0.01)).backward();
  std::printf("leaky_relu: dw = (%g, %g), db = %g\n", w.grad().at({0}), w.grad().at({1}), b.grad().item());
}
