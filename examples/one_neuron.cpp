// The smallest network there is: one neuron y = w x + b, trained by gradient descent to map
// x = 2 to the target t = 10, starting from w = 3, b = 1 with learning rate 0.01.
// The loss is E = (y - t)^2 / 2, so dE/dy = y - t, dE/dw = (y - t) x and dE/db = y - t.
// Run it and compare each printed number with a hand computation.
#include <cmath>
#include <cstdio>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

int main() {
  // Data: constants. Parameters: leaves that collect gradients (requires_grad). Double precision
  // so that the printed digits are exact.
  const tg::Tensor x = tg::tensor(2.0, tg::Dtype::f64), t = tg::tensor(10.0, tg::Dtype::f64);
  tg::Tensor w = tg::tensor(3.0, tg::Dtype::f64).requires_grad(true);
  tg::Tensor b = tg::tensor(1.0, tg::Dtype::f64).requires_grad(true);
  const double lr = 0.01;
  bool ok = true;
  auto check = [&](const char* what, double got, double want) {
    const bool good = std::abs(got - want) < 1e-9;
    std::printf("  %-10s = %-10.6g (expected %g)%s\n", what, got, want, good ? "" : "  <-- WRONG");
    ok = ok && good;
  };

  // ---- step 1, by hand ----
  std::printf("step 1\n");
  tg::Tensor y = x * w + b;                // forward: 2*3 + 1 = 7
  tg::Tensor E = tg::square(y - t) / 2.0;  // (7 - 10)^2 / 2 = 4.5
  check("y", y.item(), 7.0);
  check("E", E.item(), 4.5);
  E.backward();                            // fills w.grad() and b.grad()
  check("dE/dw", w.grad().item(), -6.0);   // (7 - 10) * 2
  check("dE/db", b.grad().item(), -3.0);   // (7 - 10) * 1
  {
    tg::NoGradGuard no_grad;  // the update itself is not part of the model: do not record it
    w.add_(w.grad(), -lr);    // w = 3 - 0.01 * (-6) = 3.06
    b.add_(b.grad(), -lr);    // b = 1 - 0.01 * (-3) = 1.03
    w.zero_grad();            // gradients accumulate: clear them before the next backward
    b.zero_grad();
  }
  check("new w", w.item(), 3.06);
  check("new b", b.item(), 1.03);

  // ---- the same step in a loop, until the error is negligible ----
  int step = 1;
  double e = E.item();
  while (e >= 1e-7 && step < 10000) {
    ++step;
    tg::Tensor loss = tg::square(x * w + b - t) / 2.0;
    e = loss.item();
    loss.backward();
    tg::NoGradGuard no_grad;
    w.add_(w.grad(), -lr);
    b.add_(b.grad(), -lr);
    w.zero_grad();
    b.zero_grad();
    if (step <= 5 || step % 25 == 0 || e < 1e-7)
      std::printf("step %3d: E = %.8f  w = %.6f  b = %.6f\n", step, e, w.item(), b.item());
  }
  // The error shrinks by the same factor (1 - lr * (x^2 + 1))^2 = 0.95^2 every step, so it
  // first drops below 1e-7 at step 173 (epoch index 172), with w x + b = 10 almost exactly.
  std::printf("converged at step %d: y = %.6f\n", step, (x * w + b).item());
  ok = ok && step == 173 && std::abs(w.item() - 4.2) < 5e-4 && std::abs(b.item() - 1.6) < 5e-4;
  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
