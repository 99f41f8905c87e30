// Smooth activations: softplus, SiLU, GELU (the erf form) and ELU, each in a form that neither
// overflows nor loses its digits for large |x|. Each forward beside its backward.
#include <cmath>

#include "ops/pointwise.h"

namespace tapegrad {

using namespace detail;

namespace {
// 1 / (1 + e^-x) without exponentiating a large positive number.
template <class T>
T stable_sigmoid(T v) {
  if (v >= 0) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}
}  // namespace

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): never overflows, and keeps its digits for very
// negative x, where it is about e^x. Its derivative is sigmoid(x).
static const Op kSoftplus(pointwise("softplus",
    [](auto x) { return std::max(x, decltype(x)(0)) + std::log1p(std::exp(-std::abs(x))); },
    [](auto g, auto x, auto) { return g * stable_sigmoid(x); },
    [](const Tensor& t, const Tensor& x, const Tensor&) {
      const Tensor s = sigmoid(x);
      return Second{.dx = t * s * (1.0 - s)};
    },
    Varies::x,
    {{.inputs = unary_inputs(-4, 4)}}));
Tensor softplus(const Tensor& x) { return kSoftplus({x}); }

// x sigmoid(x); d/dx = s (1 + x (1 - s)).
static const Op kSilu(pointwise("silu",
    [](auto x) { return x * stable_sigmoid(x); },
    [](auto g, auto x, auto) {
      const auto s = stable_sigmoid(x);
      return g * s * (1 + x * (1 - s));
    },
    [](const Tensor& t, const Tensor& x, const Tensor&) {
      const Tensor s = sigmoid(x);  // silu'' = s (1 - s) (2 + x (1 - 2 s))
      return Second{.dx = t * s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))};
    },
    Varies::x,
    {{.inputs = unary_inputs(-4, 4)}}));
Tensor silu(const Tensor& x) { return kSilu({x}); }

// x Phi(x) with Phi the standard normal CDF, written with erf (PyTorch's default, not the tanh
// approximation); d/dx = Phi(x) + x phi(x).
static const Op kGelu(pointwise("gelu",
    [](auto x) {
      using T = decltype(x);
      return x * T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
    },
    [](auto g, auto x, auto) {
      using T = decltype(x);
      const T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
      const T pdf = std::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
      return g * (cdf + x * pdf);
    },
    [](const Tensor& t, const Tensor& x, const Tensor&) {
      const Tensor pdf = exp(square(x) * -0.5) * (0.5 * M_2_SQRTPI * M_SQRT1_2);  // gelu'' = pdf (2 - x^2)
      return Second{.dx = t * pdf * (2.0 - square(x))};
    },
    Varies::x,
    {{.inputs = unary_inputs(-3, 3)}}));
Tensor gelu(const Tensor& x) { return kGelu({x}); }

// x for x > 0, alpha (e^x - 1) otherwise (expm1: exact near 0); the gradient at 0 is alpha, the
// left derivative, as PyTorch.
static const Op kElu(pointwise<Scalar>("elu",
    [](auto x, auto alpha) { return x > 0 ? x : alpha * std::expm1(x); },
    [](auto g, auto x, auto, auto alpha) { return x > 0 ? g : g * alpha * std::exp(x); },
    [](const Tensor& t, const Tensor& x, const Tensor&, double alpha) {
      return Second{.dx = t * (1.0 - greater(x, 0.0)) * exp(x) * alpha};  // 0 for x > 0
    },
    Varies::x,
    {{.label = "alpha=1", .args = {1.0}, .inputs = kink_inputs},
     {.label = "alpha=0.5", .args = {0.5}, .inputs = kink_inputs}}));
Tensor elu(const Tensor& x, double alpha) { return kElu({x}, {alpha}); }

}  // namespace tapegrad
