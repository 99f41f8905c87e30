#pragma once
/// \file scheduler.h
/// Learning-rate schedulers: each step() sets the optimizer's learning rate from a closed form
/// of the epoch count, as PyTorch's schedulers do.
#include <cstdint>

#include "tapegrad/core/tensor.h"
#include "tapegrad/optim/optimizer.h"

namespace tapegrad::optim {

/// Base of the schedulers: remembers the optimizer's learning rate at construction (base_lr) and
/// counts epochs. The optimizer must outlive the scheduler.
class LRScheduler {
 public:
  /// Leaves the optimizer's learning rate as it is.
  virtual ~LRScheduler() = default;
  /// Advances one epoch and sets the optimizer's learning rate for it.
  void step();
  /// The learning rate the last step() (or the constructor) set.
  double last_lr() const { return last_lr_; }
  /// Epochs stepped so far (0 after construction).
  int64_t last_epoch() const { return epoch_; }
  /// The optimizer's learning rate when the scheduler was made.
  double base_lr() const { return base_lr_; }
  /// "base_lr" and "last_epoch" as rank-0 f64 tensors, for checkpoints.
  NamedTensors state_dict() const;
  /// Restores what state_dict() returned and sets the optimizer's learning rate to match;
  /// throws tg::Error on a missing, extra or malformed entry.
  void load_state_dict(const NamedTensors& state);

 protected:
  /// Takes the optimizer's current learning rate as base_lr; sets no learning rate itself.
  explicit LRScheduler(Optimizer& optimizer);
  /// The learning rate at `epoch` (closed form).
  virtual double lr_at(int64_t epoch) const = 0;
  /// Sets the optimizer's learning rate for the current epoch (constructors call it last).
  void apply();

 private:
  Optimizer& optimizer_;
  double base_lr_;
  int64_t epoch_ = 0;
  double last_lr_;
};

/// lr = base_lr * gamma^floor(epoch / step_size).
class StepLR : public LRScheduler {
 public:
  /// Decays `optimizer`'s learning rate by `gamma` every `step_size` epochs (step_size >= 1).
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  /// The closed form above.
  double lr_at(int64_t epoch) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr = base_lr * gamma^epoch.
class ExponentialLR : public LRScheduler {
 public:
  /// Decays `optimizer`'s learning rate by `gamma` every epoch.
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  /// The closed form above.
  double lr_at(int64_t epoch) const override;

 private:
  double gamma_;
};

/// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (periodic past T_max,
/// as PyTorch's closed form).
class CosineAnnealingLR : public LRScheduler {
 public:
  /// Anneals `optimizer`'s learning rate from base_lr to `eta_min` over `T_max` epochs (T_max >= 1).
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 protected:
  /// The closed form above.
  double lr_at(int64_t epoch) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

}  // namespace tapegrad::optim
