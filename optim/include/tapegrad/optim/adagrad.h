#pragma once
/// \file adagrad.h
/// Adagrad: per-element learning rates from the running sum of squared gradients.
#include <vector>

#include "tapegrad/optim/optimizer.h"

namespace tapegrad::optim {

/// Options of Adagrad, defaults as PyTorch's, in PyTorch's order.
struct AdagradOptions {
  double lr = 1e-2;                         ///< learning rate
  double lr_decay = 0.0;                    ///< step t uses lr / (1 + (t-1) * lr_decay)
  double weight_decay = 0.0;                ///< L2 penalty added to the gradient
  double initial_accumulator_value = 0.0;   ///< starting value of the sum of squares
  double eps = 1e-10;                       ///< added to the root of the sum, for stability
};

/// Adagrad as torch.optim.Adagrad: g = grad + wd*p; sum += g*g;
/// p -= lr / (1 + (t-1)*lr_decay) * g / (sqrt(sum) + eps). State buffer: "sum".
class Adagrad : public Optimizer {
 public:
  /// Optimizes `params` (handles sharing the caller's tensors) with `options`.
  explicit Adagrad(std::vector<Tensor> params, AdagradOptions options = {});

 protected:
  /// One Adagrad update of one parameter.
  void update(Slot& slot) override;

 private:
  AdagradOptions options_;
};

}  // namespace tapegrad::optim
