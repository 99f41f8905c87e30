#pragma once
/// \file rmsprop.h
/// RMSprop: divide the gradient by a running root mean square, optionally centered, with momentum.
#include <vector>

#include "tapegrad/optim/optimizer.h"

namespace tapegrad::optim {

/// Options of RMSprop, defaults as PyTorch's, in PyTorch's order.
struct RMSpropOptions {
  double lr = 1e-2;           ///< learning rate
  double alpha = 0.99;        ///< smoothing constant of the running mean of squares
  double eps = 1e-8;          ///< added to the root, for stability
  double weight_decay = 0.0;  ///< L2 penalty added to the gradient
  double momentum = 0.0;      ///< momentum factor (0: none)
  bool centered = false;      ///< normalize by the estimated variance instead of the mean square
};

/// RMSprop as torch.optim.RMSprop: g = grad + wd*p; v = alpha*v + (1-alpha)*g*g; with centered,
/// m = alpha*m + (1-alpha)*g and avg = sqrt(v - m*m) + eps, else avg = sqrt(v) + eps; with
/// momentum, buf = momentum*buf + g/avg and p -= lr*buf, else p -= lr*g/avg.
/// State buffers: "square_avg", then "momentum_buffer" (momentum > 0), then "grad_avg" (centered).
class RMSprop : public Optimizer {
 public:
  /// Optimizes `params` (handles sharing the caller's tensors) with `options`.
  explicit RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});

 protected:
  /// One RMSprop update of one parameter.
  void update(Slot& slot) override;

 private:
  RMSpropOptions options_;
};

}  // namespace tapegrad::optim
