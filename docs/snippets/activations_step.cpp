// Why the perceptron's step cannot be trained by gradient descent: its derivative is 0 almost
// everywhere (and undefined at 0), so backprop hands every weight a zero gradient.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

const tg::Function step(
    "step", [](const std::vector<tg::Tensor>& in) { return tg::greater(in[0], 0.0); },
    [](const tg::FunctionContext& c) { return std::vector<tg::Tensor>{tg::zeros_like(c.inputs[0])}; });

int main() {
  auto d = tg::Dtype::f64;
  // The definition: (step(x + h) - step(x - h)) / 2h is 0 for every x != 0 once h < |x| ...
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::sum(step({in[0]})); };
  std::cout << "central differences at 0.3:  " << tg::numerical_grad(f, {tg::tensor({0.3}, d)})[0] << "\n";
  // ... and grows without bound at 0: there is no derivative there.
  for (double h : {1e-2, 1e-4, 1e-6})
    std::cout << "difference quotient at 0, h = " << h << ": "
              << tg::numerical_grad(f, {tg::tensor({0.0}, d)}, h)[0].item() << "\n";

  // A perceptron on AND: the error is 1, yet every gradient is 0, so no step moves the weights.
  tg::Tensor X = tg::tensor({{0.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {1.0, 1.0}}, d);
  tg::Tensor T = tg::tensor({0.0, 0.0, 0.0, 1.0}, d);
  tg::Tensor w = tg::tensor({0.5, 0.5}, d).requires_grad(true);
  tg::Tensor b = tg::tensor(0.2, d).requires_grad(true);
  tg::Tensor E = tg::sum(tg::square(step({tg::matmul(X, w) + b}) - T)) / 2.0;
  E.backward();
  std::cout << "E = " << E.item() << ", dE/dw = " << w.grad() << ", dE/db = " << b.grad().item() << "\n";
  // With sigmoid in place of step the same network gets a usable gradient.
  w.zero_grad();
  b.zero_grad();
  tg::sum(tg::square(tg::sigmoid(tg::matmul(X, w) + b) - T)).backward();
  std::cout << "with sigmoid: dE/dw = " << w.grad() << "\n";
}
