// Trains y = 2x + 1 through the installed headers and library; exits 0 when the fit is right.
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <cstdio>

namespace tg = tapegrad;

int main() {
  auto x = tg::tensor({{0.0}, {1.0}, {2.0}, {3.0}}, tg::Dtype::f64);
  auto t = tg::tensor({{1.0}, {3.0}, {5.0}, {7.0}}, tg::Dtype::f64);
  auto w = tg::zeros({1, 1}, tg::Dtype::f64).requires_grad(true);
  auto b = tg::zeros({1}, tg::Dtype::f64).requires_grad(true);
  for (int step = 0; step < 2000; ++step) {
    auto loss = tg::mse_loss(tg::matmul(x, w) + b, t);
    loss.backward();
    tg::NoGradGuard no_grad;
    w.add_(w.grad(), -0.05);
    b.add_(b.grad(), -0.05);
    w.zero_grad();
    b.zero_grad();
  }
  std::printf("w = %.6f, b = %.6f\n", w.item(), b.item());
  return std::abs(w.item() - 2.0) < 1e-4 && std::abs(b.item() - 1.0) < 1e-4 ? 0 : 1;
}
