#pragma once
/// \file sgd.h
/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay.
#include <vector>

#include "tapegrad/optim/optimizer.h"

namespace tapegrad::optim {

/// Options of SGD, defaults as PyTorch's. Use designated initializers in this order:
/// `{.lr = 0.01, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-4}`.
struct SGDOptions {
  double lr = 1e-3;            ///< learning rate
  double momentum = 0.0;       ///< momentum factor (0: plain SGD)
  double dampening = 0.0;      ///< dampening of the gradient added to the momentum buffer
  bool nesterov = false;       ///< Nesterov momentum (needs momentum > 0 and dampening 0)
  double weight_decay = 0.0;   ///< L2 penalty: weight_decay * param is added to the gradient
};

/// SGD as PyTorch's torch.optim.SGD: g = grad + wd*p; with momentum, buf = g on the first step
/// and momentum*buf + (1-dampening)*g after, g = g + momentum*buf (Nesterov) or buf; p -= lr*g.
/// State buffer: "momentum_buffer" (only when momentum != 0).
class SGD : public Optimizer {
 public:
  /// Optimizes `params` (handles sharing the caller's tensors) with `options`.
  explicit SGD(std::vector<Tensor> params, SGDOptions options = {});

 protected:
  /// One SGD update of one parameter.
  void update(Slot& slot) override;

 private:
  SGDOptions options_;
};

}  // namespace tapegrad::optim
