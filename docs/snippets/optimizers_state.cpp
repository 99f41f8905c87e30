// An optimizer's state (step counts, moment buffers, learning rate) saved and restored, with a
// learning-rate schedule.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;
namespace optim = tapegrad::optim;

int main() {
  tg::Tensor w = tg::tensor({1.0, -1.0}).requires_grad(true);
  optim::Adam opt({w}, {.lr = 0.1});
  optim::StepLR schedule(opt, /*step_size=*/2, /*gamma=*/0.5);  // halve the rate every 2 epochs
  for (int epoch = 0; epoch < 4; ++epoch) {
    opt.zero_grad();
    tg::sum(tg::square(w)).backward();
    opt.step();
    schedule.step();
    std::printf("epoch %d: lr now %.3f, w = (%.4f, %.4f)\n", epoch, opt.lr(), w.at({0}), w.at({1}));
  }
  for (const auto& [name, t] : opt.state_dict()) std::printf("state: %-14s shape %s\n", name.c_str(), t.shape().str().c_str());
}
