// Gradient clipping by total norm.
#include "tapegrad/optim/clip.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "tapegrad/autograd/tape.h"
#include "show.h"
#include "tensor_impl.h"

namespace tapegrad::optim {

using detail::show_double;

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  if (!(norm_type > 0.0))
    throw Error("clip_grad_norm: norm_type must be > 0 (or infinity), got " + show_double(norm_type));
  if (!(max_norm >= 0.0)) throw Error("clip_grad_norm: max_norm must be >= 0, got " + show_double(max_norm));
  NoGradGuard no_grad;
  const bool inf = std::isinf(norm_type);
  // Accumulated in double for both dtypes, so float gradients of many elements do not lose the small ones.
  double acc = 0.0;
  bool any = false;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.has_grad()) continue;
    any = true;
    const Tensor g = p.grad();
    detail::dispatch(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* d = g.data<T>();
      const int64_t n = g.numel();
      if (inf) {
        // Not std::max: it keeps `acc` against a NaN, which would then hide from the total.
        for (int64_t k = 0; k < n; ++k) {
          const double a = std::abs(static_cast<double>(d[k]));
          if (a > acc || std::isnan(a)) acc = a;
          if (std::isnan(acc)) break;
        }
      } else if (norm_type == 2.0) {
        for (int64_t k = 0; k < n; ++k) acc += static_cast<double>(d[k]) * static_cast<double>(d[k]);
      } else if (norm_type == 1.0) {
        for (int64_t k = 0; k < n; ++k) acc += std::abs(static_cast<double>(d[k]));
      } else {
        for (int64_t k = 0; k < n; ++k) acc += std::pow(std::abs(static_cast<double>(d[k])), norm_type);
      }
    });
  }
  if (!any) return 0.0;
  const double total = inf ? acc : norm_type == 2.0 ? std::sqrt(acc) : norm_type == 1.0 ? acc : std::pow(acc, 1.0 / norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    throw Error("clip_grad_norm: the total " + show_double(norm_type) + "-norm of the gradients is " +
                std::to_string(total) + "; pass error_if_nonfinite = false to clip anyway");
  // Scaled only when the norm exceeds max_norm, so clipping twice equals clipping once (PyTorch
  // clamps the coefficient at 1 instead, which also shrinks norms in (max_norm - 1e-6, max_norm]).
  // A NaN total makes the coefficient NaN and spreads to the gradients, as in PyTorch.
  const double coef = max_norm / (total + 1e-6);
  if (total > max_norm || std::isnan(total)) {
    for (const Tensor& p : params) {
      if (!p.defined() || !p.has_grad()) continue;
      Tensor g = p.grad();
      g.mul_(coef);
    }
  }
  return total;
}

}  // namespace tapegrad::optim
