// Time your own function: its gradient by backprop against central differences (numerical_grad).
#include <tapegrad/tapegrad.h>

#include <chrono>
#include <cstdio>

namespace tg = tapegrad;

int main() {
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::tanh(in[0]) * in[0]); };  // yours here
  tg::Generator gen(1);
  std::vector<tg::Tensor> x{tg::randn({1000}, gen, tg::Dtype::f64).requires_grad(true)};
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  f(x).backward();                                   // backprop: one forward, one backward
  const auto t1 = clock::now();
  tg::Tensor numeric = tg::numerical_grad(f, x)[0];  // central differences: two forwards per input
  const auto t2 = clock::now();
  const double diff = tg::max(tg::abs(x[0].grad() - numeric), 0).item();
  std::printf("%lld inputs, %lld forward passes for central differences\n", static_cast<long long>(x[0].numel()),
              2 * static_cast<long long>(x[0].numel()));
  std::printf("the two gradients agree to 1e-6: %s\n", diff < 1e-6 ? "yes" : "no");
  // Timings go to stderr: they differ from run to run, and the docs test compares stdout only.
  const auto us = [](clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
  std::fprintf(stderr, "backprop %.0f us, central differences %.0f us: %.0fx\n", us(t1 - t0), us(t2 - t1),
               us(t2 - t1) / us(t1 - t0));
}
