// Defining your own differentiable function: swish(x) = x * sigmoid(x) (also called SiLU),
// with a hand-written derivative, checked against finite differences by tg::gradcheck.
//
// The derivative: with s = sigmoid(x), d/dx [x s] = s + x s (1 - s).
#include <cstdio>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

// A tg::Function is a name, a forward and a backward. The forward runs with recording off and
// returns the value; the backward gets the inputs, the output and the gradient flowing in from
// above, and returns one gradient per input (chain rule: upstream gradient times local derivative).
const tg::Function swish(
    "swish",
    [](const std::vector<tg::Tensor>& in) { return in[0] * tg::sigmoid(in[0]); },
    [](const tg::FunctionContext& c) {
      const tg::Tensor& x = c.inputs[0];
      const tg::Tensor s = tg::sigmoid(x);
      return std::vector<tg::Tensor>{c.grad_output * (s + x * s * (1.0 - s))};
    });

// The same forward with a mistake in the backward (the x s (1 - s) term forgotten), to show
// what gradcheck reports when a derivative is wrong.
const tg::Function broken_swish(
    "broken_swish",
    [](const std::vector<tg::Tensor>& in) { return in[0] * tg::sigmoid(in[0]); },
    [](const tg::FunctionContext& c) { return std::vector<tg::Tensor>{c.grad_output * tg::sigmoid(c.inputs[0])}; });

int main() {
  // It is used like any built-in op, and mixes with them in one graph.
  tg::Tensor x = tg::tensor({-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0}, tg::Dtype::f64).requires_grad(true);
  tg::Tensor y = tg::sum(swish({x}) * 3.0);
  y.backward();
  std::printf("x           = %s\n", x.str().c_str());
  std::printf("d(3 swish)/dx = %s\n", x.grad().str().c_str());

  // gradcheck compares the backward with central differences, element by element; the inputs
  // cover both tails (where sigmoid saturates) and the bend near 0.
  auto f = [](const std::vector<tg::Tensor>& in) { return swish({in[0]}); };
  const tg::GradcheckReport good = tg::gradcheck(f, {x.detach()});
  std::printf("\ngradcheck(swish):\n%s\n", good.str().c_str());

  auto g = [](const std::vector<tg::Tensor>& in) { return broken_swish({in[0]}); };
  const tg::GradcheckReport bad = tg::gradcheck(g, {x.detach()});
  std::printf("gradcheck(broken_swish), expected to fail:\n%s\n", bad.str().c_str());

  const bool ok = good.ok && !bad.ok && bad.first_bad_node() && bad.first_bad_node()->op == "broken_swish";
  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
