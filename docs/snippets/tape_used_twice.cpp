// A tensor used by two ops receives the sum of both gradients; leaves also accumulate across
// backward() calls until zero_grad().
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  tg::Tensor x = tg::tensor(3.0).requires_grad(true);
  tg::Tensor y = x * x + x;  // x feeds mul (twice) and add: dy/dx = 2x + 1 = 7
  y.backward();
  std::cout << "dy/dx = " << x.grad().item() << "\n";

  (x * x + x).backward();    // a second graph, a second backward: 7 + 7
  std::cout << "without zero_grad: " << x.grad().item() << "\n";
  x.zero_grad();
  (x * x + x).backward();
  std::cout << "after zero_grad:   " << x.grad().item() << "\n";
}
