// Finite differences by hand: what gradcheck compares backprop with.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  // f(x, y) = 2x + 3xy + y^3 at (1, 2): df/dx = 2 + 3y = 8, df/dy = 3x + 3y^2 = 15.
  auto f = [](const std::vector<tg::Tensor>& in) {
    return 2.0 * in[0] + 3.0 * in[0] * in[1] + tg::pow(in[1], 3.0);
  };
  std::vector<tg::Tensor> at{tg::tensor(1.0, tg::Dtype::f64), tg::tensor(2.0, tg::Dtype::f64)};
  for (double eps : {1e-1, 1e-3, 1e-6, 1e-9, 1e-12}) {
    std::vector<tg::Tensor> g = tg::numerical_grad(f, at, eps);
    std::printf("eps %-6g  df/dx %.12f  df/dy %.12f\n", eps, g[0].item(), g[1].item());
  }
}
