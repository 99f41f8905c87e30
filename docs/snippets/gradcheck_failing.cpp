// A custom op with a wrong backward: gradcheck fails, and the per-node check names the op.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

// The derivative of swish is s + x s (1 - s); this backward forgot the first term.
const tg::Function bad_swish(
    "bad_swish",
    [](const std::vector<tg::Tensor>& in) { return in[0] * tg::sigmoid(in[0]); },
    [](const tg::FunctionContext& c) {
      tg::Tensor s = tg::sigmoid(c.inputs[0]);
      return std::vector<tg::Tensor>{c.grad_output * (c.inputs[0] * s * (1.0 - s))};
    });

int main() {
  auto d = tg::Dtype::f64;
  tg::Generator gen(7);
  tg::Tensor X = tg::randn({4, 3}, gen, d);
  tg::Tensor W = tg::randn({3, 2}, gen, d);
  tg::Tensor b = tg::randn({2}, gen, d);
  auto layer = [](const std::vector<tg::Tensor>& in) {
    return tg::mean(bad_swish({tg::matmul(in[0], in[1]) + in[2]}));
  };
  tg::GradcheckReport report = tg::gradcheck(layer, {X, W, b});
  std::cout << report;
  if (const tg::NodeCheck* bad = report.first_bad_node())
    std::cout << "first bad node: #" << bad->position << " " << bad->op << "\n";
}
