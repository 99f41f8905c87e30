#pragma once
/// \file adam.h
/// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay).
#include <array>
#include <vector>

#include "tapegrad/optim/optimizer.h"

namespace tapegrad::optim {

/// Options of Adam, defaults as PyTorch's, in PyTorch's order.
struct AdamOptions {
  double lr = 1e-3;                           ///< learning rate
  std::array<double, 2> betas = {0.9, 0.999}; ///< decay rates of the first and second moments
  double eps = 1e-8;                          ///< added to the root of the second moment
  double weight_decay = 0.0;                  ///< L2 penalty added to the gradient
  bool amsgrad = false;                       ///< use the running maximum of the second moment
};

/// Options of AdamW: as Adam's, but weight decay is decoupled and defaults to 1e-2.
struct AdamWOptions {
  double lr = 1e-3;                           ///< learning rate
  std::array<double, 2> betas = {0.9, 0.999}; ///< decay rates of the first and second moments
  double eps = 1e-8;                          ///< added to the root of the second moment
  double weight_decay = 1e-2;                 ///< decoupled decay: p *= 1 - lr*weight_decay each step
  bool amsgrad = false;                       ///< use the running maximum of the second moment
};

/// Adam as torch.optim.Adam: g = grad + wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
/// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), with v replaced by its running maximum
/// under amsgrad. State buffers: "exp_avg", "exp_avg_sq", then "max_exp_avg_sq" (amsgrad).
class Adam : public Optimizer {
 public:
  /// Optimizes `params` (handles sharing the caller's tensors) with `options`.
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {});

 protected:
  /// Shared by AdamW: `decoupled` applies weight decay to the parameter, not the gradient.
  Adam(const char* name, std::vector<Tensor> params, AdamOptions options, bool decoupled);
  /// One Adam update of one parameter.
  void update(Slot& slot) override;

 private:
  AdamOptions options_;
  bool decoupled_;
};

/// AdamW as torch.optim.AdamW: first p *= 1 - lr*weight_decay, then Adam's update without
/// weight decay in the gradient. Same state buffers as Adam.
class AdamW : public Adam {
 public:
  /// Optimizes `params` (handles sharing the caller's tensors) with `options`.
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});
};

}  // namespace tapegrad::optim
