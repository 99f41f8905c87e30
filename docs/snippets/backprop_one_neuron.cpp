// One neuron y = w x + b, error E = (y - t)^2 / 2, one gradient-descent step.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;  // float64 so that the printed numbers are exact
  tg::Tensor x = tg::tensor(2.0, d), t = tg::tensor(10.0, d);
  tg::Tensor w = tg::tensor(3.0, d).requires_grad(true);
  tg::Tensor b = tg::tensor(1.0, d).requires_grad(true);

  tg::Tensor y = w * x + b;                   // forward: 3*2 + 1 = 7
  tg::Tensor E = tg::square(y - t) / 2.0;     // (7 - 10)^2 / 2 = 4.5
  E.backward();                               // dE/dy = y - t = -3; dy/dw = x; dy/db = 1
  std::printf("y = %g, E = %g\n", y.item(), E.item());
  std::printf("dE/dw = %g, dE/db = %g\n", w.grad().item(), b.grad().item());

  {
    tg::NoGradGuard no_grad;                  // the update itself is not part of the model
    w.add_(w.grad(), -0.01);                  // w -= lr * dE/dw
    b.add_(b.grad(), -0.01);
  }
  std::printf("after one step: w = %g, b = %g\n", w.item(), b.item());
}
