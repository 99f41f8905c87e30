// Fit XOR with a 2-8-1 network: nn::Sequential, a loss, optim::SGD, and the usual loop.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <iostream>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

int main() {
  tg::Tensor X = tg::tensor({{0.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {1.0, 1.0}});
  tg::Tensor T = tg::tensor({{0.0}, {1.0}, {1.0}, {0.0}});

  nn::manual_seed(0);  // the initial weights come from this thread's default generator
  nn::Sequential net{nn::Linear(2, 8), nn::Tanh(), nn::Linear(8, 1)};
  tg::optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});

  for (int epoch = 0; epoch <= 500; ++epoch) {
    tg::Tensor loss = tg::binary_cross_entropy_with_logits(net(X), T);
    opt.zero_grad();   // forget the previous step's gradients
    loss.backward();   // fill p.grad() for every parameter p
    opt.step();        // p -= lr * (momentum-smoothed) gradient
    if (epoch % 100 == 0) std::printf("epoch %3d  loss %.4f\n", epoch, loss.item());
  }

  tg::NoGradGuard no_grad;  // evaluation: nothing to record
  tg::Tensor p = tg::sigmoid(net(X));
  for (int i = 0; i < 4; ++i)
    std::printf("%g xor %g -> %.3f\n", X.at({i, 0}), X.at({i, 1}), p.at({i, 0}));
  std::cout << net << "\n";
}
