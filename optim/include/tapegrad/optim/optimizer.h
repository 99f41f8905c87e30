#pragma once
/// \file optimizer.h
/// The base class of the optimizers: a list of parameters, a learning rate, and per-parameter
/// state that can be saved and restored so that a resumed run continues bit-exactly.
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad::optim {

/// Updates a fixed list of parameters from their gradients. step() runs under NoGradGuard and
/// writes each parameter's shared storage in place (bumping its version), in the parameter's
/// dtype; parameters without a gradient (has_grad() false) are skipped and their step count
/// does not advance.
///
/// state_dict() names: "lr" (rank-0 f64), and for parameter i (its position in params()):
/// "i.step" (rank-0 f64, updates applied so far) then "i.<buffer>" for each buffer of the
/// optimizer (e.g. "0.exp_avg"), with the parameter's shape and dtype.
class Optimizer {
 public:
  /// Releases the state buffers; the parameters live on in the caller's handles.
  virtual ~Optimizer() = default;
  /// Optimizers own per-parameter state; copy one through state_dict()/load_state_dict().
  Optimizer(const Optimizer&) = delete;
  /// Not copyable (see the copy constructor).
  Optimizer& operator=(const Optimizer&) = delete;

  /// Applies one update to every parameter that has a gradient.
  void step();
  /// Clears the parameters' gradients: drops them if `set_to_none` (as PyTorch does by default,
  /// so the next backward hands its buffer over without a copy), else fills them with zeros.
  void zero_grad(bool set_to_none = true);
  /// The parameters, as handles sharing the caller's storage, in construction order.
  const std::vector<Tensor>& params() const { return params_; }
  /// The current learning rate.
  double lr() const { return lr_; }
  /// Sets the learning rate used by the following steps (schedulers call this); must be finite
  /// and >= 0.
  void set_lr(double lr);
  /// The optimizer's name ("SGD", "Adam", ...), used in error messages.
  const char* name() const { return name_; }

  /// Copies of the learning rate, step counts and buffers, named as described on the class.
  NamedTensors state_dict() const;
  /// Restores what state_dict() returned, learning rate included. Every entry must be present
  /// exactly once with the expected shape and dtype, the lr finite and >= 0, the steps counts; on
  /// any mismatch it throws tg::Error and changes nothing.
  void load_state_dict(const NamedTensors& state);

 protected:
  /// What an update sees for one parameter: its value, gradient, buffers (in the order of
  /// `buffer_names`) and the step number being taken (1 for the first update).
  struct Slot {
    Tensor& param;                ///< the parameter, written in place
    const Tensor& grad;           ///< its gradient (same shape and dtype)
    std::vector<Tensor>& buffers; ///< its state buffers (same shape and dtype)
    int64_t step;                 ///< 1-based number of this update for this parameter
  };
  /// Checks and keeps the parameters (defined, leaves, no duplicates) and allocates for each one
  /// buffer per name in `buffer_names`, filled with `buffer_init`. `name` must be a literal.
  Optimizer(const char* name, std::vector<Tensor> params, double lr, std::vector<std::string> buffer_names,
            double buffer_init = 0.0);
  /// Updates one parameter in place. Called by step() under NoGradGuard.
  virtual void update(Slot& slot) = 0;
  /// Throws tg::Error "<name>: <what> must be <expected> and finite, got <value>" unless `ok` and
  /// `value` is finite (an empty `expected`: any finite value).
  void check_option(bool ok, const char* what, double value, const char* expected = ">= 0") const;

 private:
  const char* name_;  // a literal: the storage keeps it as the last writer of each parameter
  std::vector<Tensor> params_;
  double lr_;
  std::vector<std::string> buffer_names_;
  std::vector<std::vector<Tensor>> buffers_;  // [param][buffer]
  std::vector<int64_t> steps_;                // updates applied to each parameter
};

}  // namespace tapegrad::optim
