// Changing a tensor in place after an op saved it for backward: the version counter notices.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Tensor y = tg::sum(w * w);  // mul saves w: its backward needs w's values
  {
    tg::NoGradGuard no_grad;
    w.add_(tg::ones({2}), -0.1);  // an update between forward and backward
  }
  try {
    y.backward();
  } catch (const tg::Error& e) {
    std::cout << e.what() << "\n";
    tg::Tape::current().clear();  // this graph is of no further use: release its nodes
  }
  // The fix: backward first, then update (an optimizer's step() after loss.backward()).
  tg::Tensor y2 = tg::sum(w * w);
  y2.backward();
  std::cout << "gradient " << w.grad() << "\n";

  // The same mistake through an optimizer: step() between the forward and loss.backward().
  tg::nn::Sequential model{tg::nn::Linear(3, 4), tg::nn::ReLU(), tg::nn::Linear(4, 2)};
  tg::optim::SGD opt(model.parameters(), {.lr = 0.1});
  const tg::Tensor x = tg::ones({5, 3});
  for (int step = 0; step < 2; ++step) {
    try {
      tg::Tensor loss = tg::mean(model(x));
      opt.step();       // wrong place: the first time there is no gradient yet, so it changes nothing
      loss.backward();  // the second time, step() has changed the weights this forward used
    } catch (const tg::Error& e) {
      std::cout << "step " << step << ": " << e.what() << "\n";
      tg::Tape::current().clear();
    }
  }
}
