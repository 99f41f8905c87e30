// A function of your own, with its own backward, checked against finite differences.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  // softplus(x) = log(1 + e^x); its derivative is sigmoid(x).
  tg::Function softplus(
      "softplus",
      [](const std::vector<tg::Tensor>& in) { return tg::log(1.0 + tg::exp(in[0])); },
      [](const tg::FunctionContext& c) {
        return std::vector<tg::Tensor>{c.grad_output * tg::sigmoid(c.inputs[0])};
      });

  tg::Tensor x = tg::tensor({-1.0, 0.5, 2.0}, tg::Dtype::f64).requires_grad(true);
  tg::sum(softplus({x})).backward();
  std::cout << "gradient: " << x.grad() << "\n";

  // gradcheck perturbs each input element, compares with backprop, and checks every node.
  auto fn = [&](const std::vector<tg::Tensor>& in) { return tg::sum(softplus({in[0]}) * in[0]); };
  tg::GradcheckReport report = tg::gradcheck(fn, {x});
  std::cout << report;
  return report.ok ? 0 : 1;
}
