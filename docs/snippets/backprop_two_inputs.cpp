// Two inputs, one output: y = w1 x1 + w2 x2 + b. Each weight's gradient is (y - t) times its input.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor x = tg::tensor({2.0, 3.0}, d), t = tg::tensor(27.0, d);
  tg::Tensor w = tg::tensor({3.0, 4.0}, d).requires_grad(true);
  tg::Tensor b = tg::tensor(1.0, d).requires_grad(true);

  tg::Tensor y = tg::sum(w * x) + b;         // 3*2 + 4*3 + 1 = 19
  tg::Tensor E = tg::square(y - t) / 2.0;    // (19 - 27)^2 / 2 = 32
  E.backward();
  std::cout << "y = " << y.item() << ", E = " << E.item() << "\n";
  std::cout << "dE/dw = " << w.grad() << "\n";  // (y - t) * x = -8 * (2, 3)
  std::cout << "dE/db = " << b.grad().item() << "\n";
}
