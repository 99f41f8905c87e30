// A compiled step is a program: the forward's instructions, then its backward's, whose values
// live in one arena planned by liveness. Its gradients are those of the eager backward, bit for bit.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <vector>

namespace tg = tapegrad;

int main() {
  // The program drawn on the page: tanh(tanh(x * w)), w a captured parameter.
  tg::Tensor w = tg::tensor({0.5, -1.0, 2.0, 0.25}).requires_grad(true);
  tg::Tensor twin = tg::tensor({0.5, -1.0, 2.0, 0.25}).requires_grad(true);
  tg::Compiled step =
      tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::tanh(tg::tanh(in[0] * w)); }, {tg::ones({4})});
  std::printf("tanh(tanh(x * w)) on 4 floats: %zu forward instructions, %zu backward instructions, arena %zu bytes\n",
              step.ops(), step.backward_ops(), step.arena_bytes());
  for (int call = 0; call < 2; ++call) {
    const tg::Tensor x = tg::tensor({1.0, 2.0, 3.0, 4.0}) * (call + 1.0);
    const tg::Tensor upstream = tg::tensor({1.0, 0.5, 0.25, 0.125});
    step({x}).backward(upstream);  // the backward instructions, then their result added into w.grad()
    tg::tanh(tg::tanh(x * twin)).backward(upstream);
    std::printf("call %d: w.grad() = (%.6f, %.6f, %.6f, %.6f), eager equal bit for bit: %s\n", call,
                w.grad().at({0}), w.grad().at({1}), w.grad().at({2}), w.grad().at({3}),
                w.grad().to_vector<float>() == twin.grad().to_vector<float>() ? "yes" : "no");
  }

  // A deeper chain: 20 tanh on 64 floats (256 bytes a value). The forward's values stay for the
  // whole call; each gradient only until the instruction that reads it, so the gradients share.
  tg::Tensor v = tg::ones({64}).requires_grad(true);
  tg::Compiled chain = tg::compile(
      [&](const std::vector<tg::Tensor>& in) {
        tg::Tensor y = in[0] * v;
        for (int i = 0; i < 20; ++i) y = tg::tanh(y);
        return tg::sum(y);
      },
      {tg::ones({64})});
  std::printf("20 tanh on 64 floats: %zu forward instructions, %zu backward instructions, arena %zu bytes\n",
              chain.ops(), chain.backward_ops(), chain.arena_bytes());
}
