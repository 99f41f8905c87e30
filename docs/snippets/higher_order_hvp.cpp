// Double backward three ways: tg::grad with create_graph, then hvp and hessian, on one function.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::tanh(in[0]) * in[0]); };
  const tg::Tensor at = tg::tensor({0.5, -1.0, 2.0}, tg::Dtype::f64);
  const tg::Tensor v = tg::tensor({1.0, 0.0, 0.0}, tg::Dtype::f64);

  // By hand: the gradient, recorded (create_graph), then the gradient of its dot product with v.
  tg::Tensor x = at.clone().requires_grad(true);
  std::vector<tg::Tensor> g = tg::grad(f({x}), {x}, {.create_graph = true});
  std::vector<tg::Tensor> hv = tg::grad(tg::sum(g[0] * v), {x});
  std::printf("gradient      %s\n", g[0].detach().str().c_str());
  std::printf("H v by hand   %s\n", hv[0].str().c_str());

  // The same with the helpers: hvp never forms H; hessian does, one backward pass per row.
  std::printf("tg::hvp       %s\n", tg::hvp(f, {at}, {v})[0].str().c_str());
  std::printf("tg::hessian\n%s\n", tg::hessian(f, {at}).str().c_str());

  // Second derivatives checked against central differences of the first, node by node.
  const tg::GradcheckReport r = tg::gradgradcheck(f, {at});
  std::printf("gradgradcheck: %s, %zu nodes of the gradient's tape checked\n", r.ok ? "PASSED" : "FAILED", r.nodes.size());
}
