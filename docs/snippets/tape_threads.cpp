// Each thread records on its own tape: two threads can train two models at once without locks.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <thread>

namespace tg = tapegrad;

// Minimises (w - target)^2 with SGD on the calling thread's tape.
double fit(double target) {
  tg::Tensor w = tg::tensor(0.0).requires_grad(true);
  tg::optim::SGD opt({w}, {.lr = 0.1});
  for (int i = 0; i < 100; ++i) {
    opt.zero_grad();
    tg::square(w - target).backward();
    opt.step();
  }
  return w.item();
}

int main() {
  double a = 0, b = 0;
  std::thread ta([&] { a = fit(1.5); });
  std::thread tb([&] { b = fit(-2.0); });
  ta.join();
  tb.join();
  std::printf("thread a: w = %.4f, thread b: w = %.4f\n", a, b);

  // A tensor recorded on one thread's tape cannot join a graph on another thread.
  tg::Tensor x = tg::tensor(2.0).requires_grad(true);
  tg::Tensor y = x * x;  // recorded on the main thread
  std::thread([&] {
    try {
      tg::Tensor z = y * 2.0;
    } catch (const tg::Error& e) {
      std::printf("%s\n", e.what());
    }
    tg::Tensor ok = y.detach() * 2.0;  // a detached copy is a plain value on this thread
    std::printf("detached: %g\n", ok.item());
  }).join();
}
