// Saving a model you trained yourself, and loading it back in another program: the same
// checkpoint functions tapegrad-train uses.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

// The network, built the same way by the program that trains and the one that loads.
nn::Sequential make_net() { return nn::Sequential{nn::Linear(2, 8), nn::Tanh(), nn::Linear(8, 1)}; }

int main() {
  const tg::Tensor X = tg::tensor({{0.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {1.0, 1.0}});
  const tg::Tensor T = tg::tensor({{0.0}, {1.0}, {1.0}, {0.0}});
  {
    // Program 1: train, then save the model's and the optimizer's state with settings of your own.
    nn::manual_seed(0);
    nn::Sequential net = make_net();
    tg::optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
    for (int epoch = 0; epoch <= 500; ++epoch) {
      tg::Tensor loss = tg::binary_cross_entropy_with_logits(net(X), T);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    tg::io::save_checkpoint("xor.safetensors", net.state_dict(), opt.state_dict(), {{"epochs", "500"}});
  }
  {
    // Program 2: a fresh network (other initial weights), filled from the file.
    nn::manual_seed(123);
    nn::Sequential net = make_net();
    const tg::io::Checkpoint ck = tg::io::load_checkpoint("xor.safetensors");
    net.load_state_dict(ck.model);  // checks every name and shape first
    net.eval();
    tg::NoGradGuard no_grad;
    const tg::Tensor p = tg::sigmoid(net(X));
    std::printf("loaded after %s epochs:", ck.metadata.at("epochs").c_str());
    for (int i = 0; i < 4; ++i) std::printf(" %.3f", p.at({i, 0}));
    std::printf("\n");
    // To continue training instead: build the optimizer on net.parameters(), then
    // opt.load_state_dict(ck.optimizer) restores its momentum buffers too.
  }
}
