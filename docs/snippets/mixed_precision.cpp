// bfloat16 mixed precision: bfloat16 tensors, and a training step under tg::AutocastGuard whose
// products take bfloat16 operands while the weights, the loss and the gradients stay float32.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  // Conversion rounds to nearest, ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  const tg::Tensor x = tg::tensor({0.1, 1.00390625, 1.01171875, 3.0e38});
  const tg::Tensor b = x.to(tg::Dtype::bf16);
  std::printf("%s\n", b.str().c_str());
  std::printf("bytes per element: float32 %zu, bfloat16 %zu\n", tg::dtype_size(tg::Dtype::f32),
              tg::dtype_size(tg::Dtype::bf16));

  tg::nn::Sequential net{tg::nn::Linear(8, 32), tg::nn::ReLU(), tg::nn::Linear(32, 3)};
  tg::optim::Adam opt(net.parameters(), {.lr = 0.01});
  tg::Generator gen(1);
  const tg::Tensor X = tg::randn({64, 8}, gen);
  const tg::Tensor labels = tg::argmax(tg::slice(X, 1, 0, 3), 1).to(tg::Dtype::f32);  // the largest of 3 features
  for (int step = 0; step <= 200; ++step) {
    opt.zero_grad();
    tg::Tensor loss;
    {
      tg::AutocastGuard autocast(tg::Dtype::bf16);  // products in bfloat16, the rest in float32
      loss = tg::softmax_cross_entropy(net(X), labels);
    }
    loss.backward();  // the products' gradients take bfloat16 operands too, wherever backward runs
    opt.step();       // float32 master weights, float32 update
    if (step % 100 == 0) std::printf("step %3d: loss %.2f (%s)\n", step, loss.item(), tg::dtype_name(loss.dtype()).data());
  }
  const tg::Tensor w = net.parameters()[0];
  std::printf("weights: %s, gradients: %s\n", tg::dtype_name(w.dtype()).data(), tg::dtype_name(w.grad().dtype()).data());

  // gradcheck measures derivatives with finite differences, which bfloat16 rounding would swamp.
  try {
    tg::AutocastGuard autocast(tg::Dtype::bf16);
    tg::gradcheck([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * in[0]); }, {x});
  } catch (const tg::Error& e) {
    std::printf("error: %s\n", e.what());
  }
}
