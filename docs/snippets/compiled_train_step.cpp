// tg::compile_step: forward, backward and the optimizer's update in one call, bit for bit the
// eager loop; a hook between backward and update (here gradient clipping; a data-parallel job
// averages there); one compiled step per input signature.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <vector>

namespace tg = tapegrad;

int main() {
  tg::nn::Sequential net{tg::nn::Linear(3, 8), tg::nn::ReLU(), tg::nn::Linear(8, 2)};
  tg::nn::Sequential twin{tg::nn::Linear(3, 8), tg::nn::ReLU(), tg::nn::Linear(8, 2)};
  twin.load_state_dict(net.state_dict());
  tg::optim::SGD opt(net.parameters(), {.lr = 0.5, .momentum = 0.9});
  tg::optim::SGD twin_opt(twin.parameters(), {.lr = 0.5, .momentum = 0.9});
  tg::Generator gen(1);

  double norm = 0;  // what the hook saw, read after each call
  tg::CompiledStep step = tg::compile_step(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(net(in[0]), in[1]); },
      {tg::randn({4, 3}, gen), tg::tensor({0.0, 1.0, 1.0, 0.0})}, opt,
      {.before_update = [&] { norm = tg::optim::clip_grad_norm(net.parameters(), 0.5); }});

  // Batches of 4, 4 and a last one of 2, twice: the batch of 2 gets its own compiled step.
  for (int epoch = 0; epoch < 2; ++epoch)
    for (int64_t rows : {4, 4, 2}) {
      const tg::Tensor x = tg::randn({rows, 3}, gen);
      const tg::Tensor labels = rows == 4 ? tg::tensor({0.0, 1.0, 1.0, 0.0}) : tg::tensor({1.0, 0.0});
      const double loss = step({x, labels}).item();  // no zero_grad(): the gradients are written

      twin_opt.zero_grad();
      tg::Tensor eager = tg::softmax_cross_entropy(twin(x), labels);
      eager.backward();
      tg::optim::clip_grad_norm(twin.parameters(), 0.5);
      twin_opt.step();
      std::printf("batch of %lld: loss %.6f (gradient norm %.4f before clipping), eager %.6f, equal: %s\n",
                  static_cast<long long>(rows), loss, norm, eager.item(), loss == eager.item() ? "yes" : "no");
    }
  bool same = true;
  for (size_t i = 0; i < net.parameters().size(); ++i)
    same = same && net.parameters()[i].to_vector<double>() == twin.parameters()[i].to_vector<double>();
  std::printf("weights after 6 steps equal bit for bit: %s\n", same ? "yes" : "no");
  std::printf("compiled steps kept: %zu, compilations: %zu\n", step.programs(), step.compilations());
}
