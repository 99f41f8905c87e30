// The n-dimensional Rosenbrock function of one vector x, written with slices as you would write
// it in NumPy or PyTorch:
//   f(x) = sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2,   i = 0 .. n-2,
// differentiated by backward(), compared with the gradient worked out by hand, and checked by
// tg::gradcheck against central differences (the whole function and every node on its tape).
#include <cmath>
#include <cstdio>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

tg::Tensor rosenbrock(const tg::Tensor& x) {
  const int64_t n = x.numel();
  const tg::Tensor head = tg::slice(x, 0, 0, n - 1);  // x[:-1]
  const tg::Tensor tail = tg::slice(x, 0, 1, n);      // x[1:]
  return tg::sum(100.0 * tg::square(tail - tg::square(head)) + tg::square(1.0 - head));
}

int main() {
  const int64_t n = 6;
  std::vector<double> start(n);
  for (int64_t i = 0; i < n; ++i) start[static_cast<size_t>(i)] = i % 2 ? 1.2 : -0.8;  // away from the minimum at all ones
  tg::Tensor x = tg::from_vector(start, {n}, tg::Dtype::f64).requires_grad(true);

  tg::Tensor f = rosenbrock(x);
  f.backward();
  std::printf("f(x) = %.6f at x = [-0.8, 1.2, -0.8, 1.2, -0.8, 1.2]\n", f.item());

  // By hand: df/dx[i] = -400 x[i] (x[i+1] - x[i]^2) - 2 (1 - x[i])   (as the head of a term)
  //                    + 200 (x[i] - x[i-1]^2)                       (as the tail of the one before)
  bool ok = true;
  std::printf("   i   backward()      by hand\n");
  for (int64_t i = 0; i < n; ++i) {
    const auto at = [&](int64_t k) { return start[static_cast<size_t>(k)]; };
    double g = 0;
    if (i + 1 < n) g += -400 * at(i) * (at(i + 1) - at(i) * at(i)) - 2 * (1 - at(i));
    if (i > 0) g += 200 * (at(i) - at(i - 1) * at(i - 1));
    const double got = x.grad().at({i});
    std::printf("  %2lld  %12.6f  %12.6f\n", static_cast<long long>(i), got, g);
    ok = ok && std::abs(got - g) <= 1e-9 * (1 + std::abs(g));
  }

  // The same function handed to gradcheck: x is perturbed element by element in float64.
  const tg::GradcheckReport report = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return rosenbrock(in[0]); },
                                                   {tg::from_vector(start, {n}, tg::Dtype::f64)});
  std::printf("%s", report.str().c_str());
  ok = ok && report.ok;
  std::printf(ok ? "the gradient is right\n" : "WRONG gradient\n");
  return ok ? 0 : 1;
}
