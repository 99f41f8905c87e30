// A compiled step's program, listed: a layer's bias, activation and scaling over 4,096 floats run
// as one fused pass in blocks of 2,048 (8 KiB), forward and backward; the reshape computes nothing.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <vector>

namespace tg = tapegrad;

int main() {
  tg::Generator gen(1);
  tg::Tensor w = tg::randn({64, 128}, gen).requires_grad(true);
  tg::Tensor b = tg::randn({128}, gen).requires_grad(true);
  auto layer = [&](const std::vector<tg::Tensor>& in) {
    tg::Tensor h = tg::relu(tg::matmul(in[0], w) + b) * 0.5;
    return tg::sum(tg::reshape(h, {32, 2, 64}));
  };
  tg::Compiled step = tg::compile(layer, {tg::randn({32, 64}, gen)});
  std::printf("%s", step.program().c_str());
  std::printf("arena %zu bytes\n", step.arena_bytes());

  // The fused program and the eager functions give the same gradients, bit for bit.
  const tg::Tensor x = tg::randn({32, 64}, gen);
  step({x}).backward();
  const std::vector<float> compiled_grad = w.grad().to_vector<float>();
  w.zero_grad();
  layer({x}).backward();
  std::printf("w.grad() equal to eager bit for bit: %s\n", compiled_grad == w.grad().to_vector<float>() ? "yes" : "no");
}
