// The same neuron trained for 200 steps: the error falls to almost nothing.
#include <tapegrad/tapegrad.h>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor x = tg::tensor(2.0, d), t = tg::tensor(10.0, d);
  tg::Tensor w = tg::tensor(3.0, d).requires_grad(true);
  tg::Tensor b = tg::tensor(1.0, d).requires_grad(true);
  tg::optim::SGD opt({w, b}, {.lr = 0.01});  // does the add_ and the bookkeeping for us

  for (int step = 0; step < 200; ++step) {
    tg::Tensor E = tg::square(w * x + b - t) / 2.0;
    if (step % 50 == 0) std::printf("step %3d  E = %.6f\n", step, E.item());
    opt.zero_grad();  // gradients accumulate across backward() calls until cleared
    E.backward();
    opt.step();
  }
  std::printf("w = %.4f, b = %.4f, y = %.4f\n", w.item(), b.item(), (w * x + b).item());
}
