// Learning-rate schedulers: closed forms of the epoch count.
#include "tapegrad/optim/scheduler.h"

#include <cmath>
#include <numbers>
#include <string>

namespace tapegrad::optim {

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {}

void LRScheduler::apply() {
  last_lr_ = lr_at(epoch_);
  optimizer_.set_lr(last_lr_);
}

void LRScheduler::step() {
  ++epoch_;
  apply();
}

NamedTensors LRScheduler::state_dict() const {
  return {{"base_lr", tensor(base_lr_, Dtype::f64)}, {"last_epoch", tensor(static_cast<double>(epoch_), Dtype::f64)}};
}

void LRScheduler::load_state_dict(const NamedTensors& state) {
  const Tensor* base = nullptr;
  const Tensor* epoch = nullptr;
  for (const auto& [key, value] : state) {
    const Tensor** slot = key == "base_lr" ? &base : key == "last_epoch" ? &epoch : nullptr;
    if (!slot) throw Error("LRScheduler.load_state_dict: unexpected entry \"" + key + "\"; expected \"base_lr\" and \"last_epoch\"");
    if (*slot) throw Error("LRScheduler.load_state_dict: entry \"" + key + "\" appears more than once");
    if (!value.defined() || value.numel() != 1)
      throw Error("LRScheduler.load_state_dict: entry \"" + key + "\" must hold one number");
    *slot = &value;
  }
  if (!base) throw Error("LRScheduler.load_state_dict: missing entry \"base_lr\"");
  if (!epoch) throw Error("LRScheduler.load_state_dict: missing entry \"last_epoch\"");
  const double e = epoch->item(), b = base->item();
  // Below 2^53 (exact in a double, and castable); base_lr finite, as the optimizer's lr must be.
  if (!(e >= 0.0 && e == std::floor(e) && e < 9.0e15))
    throw Error("LRScheduler.load_state_dict: \"last_epoch\" holds " + std::to_string(e) + ", expected an integer >= 0");
  if (!(b >= 0.0 && std::isfinite(b)))
    throw Error("LRScheduler.load_state_dict: \"base_lr\" holds " + std::to_string(b) + ", expected >= 0 and finite");
  base_lr_ = b;
  epoch_ = static_cast<int64_t>(e);
  apply();
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) throw Error("StepLR: step_size must be >= 1, got " + std::to_string(step_size));
  apply();
}

double StepLR::lr_at(int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) { apply(); }

double ExponentialLR::lr_at(int64_t epoch) const { return base_lr() * std::pow(gamma_, static_cast<double>(epoch)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), t_max_(T_max), eta_min_(eta_min) {
  if (T_max < 1) throw Error("CosineAnnealingLR: T_max must be >= 1, got " + std::to_string(T_max));
  apply();
}

double CosineAnnealingLR::lr_at(int64_t epoch) const {
  const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(t_max_);
  return eta_min_ + (base_lr() - eta_min_) * (1.0 + std::cos(phase)) / 2.0;
}

}  // namespace tapegrad::optim
