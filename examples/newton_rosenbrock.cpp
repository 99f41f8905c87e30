// Minimises the Rosenbrock function f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1) twice:
// by Newton's method, whose steps solve H d = -g with the Hessian from tg::hessian (double
// backward), and by gradient descent with the best fixed step that stays stable here. Prints the
// steps each needs to come within 1e-8 of the minimum at (1, 1); exits 1 unless Newton gets there
// in far fewer steps.
#include <cmath>
#include <cstdio>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {

tg::Tensor rosenbrock(const std::vector<tg::Tensor>& in) {
  const tg::Tensor x = tg::select(in[0], 0, 0), y = tg::select(in[0], 0, 1);
  return tg::square(1.0 - x) + 100.0 * tg::square(y - tg::square(x));
}

double distance_to_minimum(const std::vector<double>& p) { return std::hypot(p[0] - 1.0, p[1] - 1.0); }

std::vector<double> gradient_at(const std::vector<double>& p) {
  tg::Tensor x = tg::from_vector(p, {2}, tg::Dtype::f64).requires_grad(true);
  return tg::grad(rosenbrock({x}), {x})[0].to_vector<double>();
}

double value_at(const std::vector<double>& p) { return rosenbrock({tg::from_vector(p, {2}, tg::Dtype::f64)}).item(); }

// Newton with backtracking: the full step where it lowers f, else halved until it does (far from
// the minimum, the quadratic model can overshoot).
int newton(std::vector<double> p) {
  for (int step = 1; step <= 100; ++step) {
    const std::vector<double> g = gradient_at(p);
    const std::vector<double> H = tg::hessian(rosenbrock, {tg::from_vector(p, {2}, tg::Dtype::f64)}).to_vector<double>();
    const double det = H[0] * H[3] - H[1] * H[2];
    const double dx = -(H[3] * g[0] - H[1] * g[1]) / det, dy = -(-H[2] * g[0] + H[0] * g[1]) / det;
    double t = 1.0;
    const double f = value_at(p);
    while (t > 1e-4 && value_at({p[0] + t * dx, p[1] + t * dy}) > f) t /= 2;
    p = {p[0] + t * dx, p[1] + t * dy};
    std::printf("  newton %2d: (%.10f, %.10f)  f = %.3e  step %.3g\n", step, p[0], p[1], value_at(p), t);
    if (distance_to_minimum(p) < 1e-8) return step;
  }
  return -1;
}

int gradient_descent(std::vector<double> p, double lr, int limit) {
  for (int step = 1; step <= limit; ++step) {
    const std::vector<double> g = gradient_at(p);
    p = {p[0] - lr * g[0], p[1] - lr * g[1]};
    if (distance_to_minimum(p) < 1e-8) return step;
  }
  std::printf("  gradient descent: still %.3g from the minimum after %d steps\n", distance_to_minimum(p), limit);
  return -1;
}

}  // namespace

int main() {
  const std::vector<double> start = {-1.2, 1.0};
  std::printf("Rosenbrock from (-1.2, 1), stopping within 1e-8 of (1, 1)\n");
  const int newton_steps = newton(start);
  const int gd_limit = 200000;
  const int gd_steps = gradient_descent(start, 0.002, gd_limit);  // 0.0025 already diverges from here
  std::printf("Newton's method (tg::hessian): %d steps\n", newton_steps);
  if (gd_steps > 0) std::printf("gradient descent (lr 0.002): %d steps\n", gd_steps);
  else std::printf("gradient descent (lr 0.002): more than %d steps\n", gd_limit);
  const bool ok = newton_steps > 0 && (gd_steps < 0 || newton_steps * 100 < gd_steps);
  if (!ok) std::printf("unexpected: Newton's method did not beat gradient descent by far\n");
  return ok ? 0 : 1;
}
