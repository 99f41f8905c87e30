// What each node does to the gradient flowing back through it (upstream gradient g):
// add passes g to both inputs; mul sends g*b to a and g*a to b; Y = XW + b sends g W^T to X,
// X^T g to W, and g summed over rows to b.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor a = tg::tensor(3.0, d).requires_grad(true), b = tg::tensor(-4.0, d).requires_grad(true);
  (a + b).backward(tg::tensor(5.0, d));  // upstream gradient 5
  std::cout << "add: da = " << a.grad().item() << ", db = " << b.grad().item() << "\n";
  a.zero_grad();
  b.zero_grad();
  (a * b).backward(tg::tensor(5.0, d));
  std::cout << "mul: da = " << a.grad().item() << " (5 * b), db = " << b.grad().item() << " (5 * a)\n";

  tg::Tensor X = tg::tensor({{1.0, 2.0}, {3.0, 4.0}}, d).requires_grad(true);       // batch 2, in 2
  tg::Tensor W = tg::tensor({{1.0, 0.0, -1.0}, {2.0, 1.0, 0.0}}, d).requires_grad(true);  // {in 2, out 3}
  tg::Tensor c = tg::tensor({0.5, 0.5, 0.5}, d).requires_grad(true);
  tg::Tensor dY = tg::tensor({{1.0, 0.0, 2.0}, {0.0, 1.0, -1.0}}, d);                // upstream, {2, 3}
  (tg::matmul(X, W) + c).backward(dY);
  std::cout << "affine: dX = " << X.grad() << "\n        dY W^T = " << tg::matmul(dY, tg::transpose(W)) << "\n";
  std::cout << "        dW = " << W.grad() << "\n        X^T dY = " << tg::matmul(tg::transpose(X), dY) << "\n";
  std::cout << "        db = " << c.grad() << " (dY summed over the batch)\n";
}
