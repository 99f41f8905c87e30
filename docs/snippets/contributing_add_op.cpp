// Checking a new op the way the test suite checks the built-in ones: register it with sample
// inputs away from its kinks, then run tg::check_op, the suite's own checks, on its entries.
#include <tapegrad/autograd/testing.h>  // the op registry: register_op, check_op, samples::
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

// softsign(x) = x / (1 + |x|); d/dx = 1 / (1 + |x|)^2.
const tg::Function softsign(
    "softsign",
    [](const std::vector<tg::Tensor>& in) { return in[0] / (1.0 + tg::abs(in[0])); },
    [](const tg::FunctionContext& c) {
      return std::vector<tg::Tensor>{c.grad_output / tg::square(1.0 + tg::abs(c.inputs[0]))};
    });

int main() {
  // |x| has a corner at 0: keep the samples at least 0.1 away from it.
  tg::register_op({.name = "softsign",
                   .variant = "",
                   .fn = [](const std::vector<tg::Tensor>& in) { return softsign({in[0]}); },
                   .samples = [](tg::Dtype d, tg::Generator& g) {
                     return std::vector<tg::OpSample>{
                         {{tg::samples::away_from({2, 3}, 0.0, 0.1, d, g)}, "matrix away from 0"},
                         {{tg::samples::uniform({}, 0.5, 2.0, d, g)}, "rank-0 in [0.5, 2)"}};
                   }});

  // The checks tests/registry_test.cpp runs on every op (tg::check_op), on this op's entries:
  // gradcheck in float64, whole and per node, and float32 backprop against float64.
  bool all_ok = true;
  for (const tg::OpEntry& e : tg::op_registry()) {
    if (e.name != "softsign") continue;
    for (const tg::OpCheck& c : tg::check_op(e)) {
      all_ok = all_ok && c.ok;
      std::cout << (c.ok ? "PASSED " : "FAILED ") << c.label << "\n";
      if (!c.ok) std::cout << c.detail;  // the gradcheck report names the worst element
    }
  }
  return all_ok ? 0 : 1;
}
