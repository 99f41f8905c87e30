// A training step compiled once and replayed: the same losses and weights as the eager loop, bit
// for bit; a call with another batch size throws; CompiledCache keeps one step per shape.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <vector>

namespace tg = tapegrad;

int main() {
  tg::nn::Sequential net{tg::nn::Linear(3, 8), tg::nn::ReLU(), tg::nn::Linear(8, 2)};
  tg::nn::Sequential twin{tg::nn::Linear(3, 8), tg::nn::ReLU(), tg::nn::Linear(8, 2)};
  twin.load_state_dict(net.state_dict());
  tg::optim::SGD opt(net.parameters(), {.lr = 0.1}), twin_opt(twin.parameters(), {.lr = 0.1});
  tg::Generator gen(1);
  const tg::Tensor labels = tg::tensor({0.0, 1.0, 1.0, 0.0});  // class indices, as a float tensor

  // The parameters are captured: read live at every replay, so each step sees the update.
  tg::Compiled step = tg::compile(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(net(in[0]), in[1]); },
      {tg::randn({4, 3}, gen), labels});
  std::printf("compiled: %zu ops replayed per call, %zu of them recorded nodes\n", step.ops(), step.nodes());

  for (int i = 0; i < 3; ++i) {
    const tg::Tensor x = tg::randn({4, 3}, gen);
    opt.zero_grad();
    tg::Tensor loss = step({x, labels});  // the forward replayed, nothing recorded
    loss.backward();                      // the traced backward, into the parameters' grad()
    opt.step();
    twin_opt.zero_grad();
    tg::Tensor eager = tg::softmax_cross_entropy(twin(x), labels);
    eager.backward();
    twin_opt.step();
    std::printf("step %d: loss %.6f, eager %.6f, bitwise equal: %s\n", i, loss.item(), eager.item(),
                loss.item() == eager.item() ? "yes" : "no");
  }
  const bool same = net.parameters()[0].to_vector<double>() == twin.parameters()[0].to_vector<double>();
  std::printf("weights after 3 steps equal bit for bit: %s\n", same ? "yes" : "no");

  // The shapes are part of the step.
  try {
    step({tg::randn({2, 3}, gen), tg::tensor({0.0, 1.0})});
  } catch (const tg::Error& e) {
    std::printf("error: %s\n", e.what());
  }
  // One compiled step per input signature: a full batch and a smaller last one.
  tg::CompiledCache steps([&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(net(in[0]), in[1]); });
  for (int epoch = 0; epoch < 2; ++epoch) {
    steps({tg::randn({4, 3}, gen), labels}).backward();
    steps({tg::randn({2, 3}, gen), tg::tensor({1.0, 0.0})}).backward();
  }
  std::printf("CompiledCache: %zu compilations for 4 calls\n", steps.compilations());
}
