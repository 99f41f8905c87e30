// Two inputs, two outputs: y = x W + b with W of shape {in, out}; column j feeds output j.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor x = tg::tensor({{2.0, 3.0}}, d);           // one example, a row
  tg::Tensor t = tg::tensor({{27.0, -30.0}}, d);
  tg::Tensor W = tg::tensor({{3.0, 5.0},                 // from x1 to (y1, y2)
                             {4.0, 6.0}}, d)             // from x2 to (y1, y2)
                     .requires_grad(true);
  tg::Tensor b = tg::tensor({1.0, 2.0}, d).requires_grad(true);

  tg::Tensor y = tg::matmul(x, W) + b;                  // (19, 30)
  tg::Tensor E = tg::sum(tg::square(y - t)) / 2.0;      // (64 + 3600) / 2 = 1832
  E.backward();
  std::cout << "y = " << y << "\nE = " << E.item() << "\n";
  std::cout << "dE/dW = " << W.grad() << "\n";  // x^T (y - t): row i is x_i * (y - t)
  std::cout << "dE/db = " << b.grad() << "\n";  // y - t
}
