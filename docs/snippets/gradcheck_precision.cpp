// float32 inputs are promoted to float64 for the check; kinks are where finite differences lie.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::tanh(in[0]) * in[0]); };
  tg::Tensor x32 = tg::tensor({0.3, -1.2, 2.0});  // float32
  tg::GradcheckReport r = tg::gradcheck(f, {x32});
  std::cout << "float32 input: ok = " << r.ok << ", promoted = " << r.promoted << "\n";

  // relu at exactly 0: backprop uses the subgradient 0, central differences see
  // (relu(eps) - relu(-eps)) / (2 eps) = (eps - 0) / (2 eps) = 0.5.
  auto g = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::relu(in[0])); };
  std::cout << tg::gradcheck(g, {tg::tensor({0.0, 1.0}, tg::Dtype::f64)}, {.check_nodes = false});
  // Away from the kink (|x| > eps) the check passes.
  std::cout << tg::gradcheck(g, {tg::tensor({-0.5, 1.0}, tg::Dtype::f64)}, {.check_nodes = false});
}
