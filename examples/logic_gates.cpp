// AND, OR, NAND and NOR each learned by a single neuron: y = sigmoid(w1 x1 + w2 x2 + b).
// Each gate is linearly separable (a line splits its 0s from its 1s), which is exactly what one
// neuron can represent. (XOR is not: see xor.cpp.)
#include <cstdio>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

namespace {

// Trains one neuron on the truth table `targets` (for inputs 00, 01, 10, 11); returns true if it
// then answers all four cases right.
bool learn_gate(const std::string& name, const std::vector<double>& targets) {
  const tg::Tensor X = tg::tensor({{0.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {1.0, 1.0}});
  const tg::Tensor T = tg::from_vector(targets, {4, 1});

  // The neuron outputs a logit (w . x + b); the loss applies the sigmoid itself, in a form that
  // never overflows (binary cross-entropy with logits).
  tg::Generator gen(0);
  nn::Linear neuron(2, 1, {.generator = &gen});
  tg::optim::SGD sgd(neuron.parameters(), {.lr = 1.0});
  for (int epoch = 0; epoch < 2000; ++epoch) {
    tg::Tensor loss = tg::binary_cross_entropy_with_logits(neuron(X), T);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }

  tg::NoGradGuard no_grad;
  const tg::Tensor Y = tg::sigmoid(neuron(X));
  const tg::Tensor& w = neuron.weight();
  std::printf("%-4s  w = (%6.2f, %6.2f)  b = %6.2f  ", name.c_str(), w.at({0, 0}), w.at({1, 0}),
              neuron.bias().at({0}));
  bool ok = true;
  for (int64_t i = 0; i < 4; ++i) {
    const bool right = (Y.at({i, 0}) > 0.5) == (targets[i] > 0.5);
    ok = ok && right;
    std::printf(" %g%g->%.2f%s", X.at({i, 0}), X.at({i, 1}), Y.at({i, 0}), right ? "" : "(WRONG)");
  }
  std::printf("\n");
  return ok;
}

}  // namespace

int main() {
  bool ok = true;
  ok &= learn_gate("AND", {0, 0, 0, 1});
  ok &= learn_gate("OR", {0, 1, 1, 1});
  ok &= learn_gate("NAND", {1, 1, 1, 0});
  ok &= learn_gate("NOR", {1, 0, 0, 0});
  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
