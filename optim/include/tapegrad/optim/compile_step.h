#pragma once
/// \file compile_step.h
/// A whole training step compiled once: forward, backward and the optimizer's update per call.
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "tapegrad/autograd/compile.h"
#include "tapegrad/optim/optimizer.h"

namespace tapegrad {

/// How tg::compile_step compiles and runs.
struct CompileStepOptions {
  /// How the loss function is recorded (tg::compile's options).
  CompileOptions compile = {};
  /// Compiled steps kept, one per input signature (as tg::CompiledCache).
  size_t capacity = 4;
  /// Called after the backward and before the update, with the gradients in the parameters'
  /// grad(): a data-parallel job averages them here (tg::dist::GradientAverager::average).
  std::function<void()> before_update = {};
};

/// A training step: each call computes the loss at its inputs, its gradients with respect to the
/// optimizer's parameters, and applies the optimizer's update. The gradients are written, not
/// added to what grad() held, so there is no zero_grad(); each parameter's grad() is then the
/// program's own buffer, rewritten by the next call (clone() it to keep it). The parameters end
/// bit for bit where the eager loop (zero_grad, forward, backward, step) leaves them. One compiled
/// step is kept per input signature, so the smaller last batch of an epoch gets its own.
/// Move-only; used on the thread that made it.
class CompiledStep {
 public:
  /// An empty step (calling it throws).
  CompiledStep();
  /// Takes over `other`'s step.
  CompiledStep(CompiledStep&& other) noexcept;
  /// Takes over `other`'s step.
  CompiledStep& operator=(CompiledStep&& other) noexcept;
  ~CompiledStep();

  /// Runs one step at `inputs` and returns its loss: a one-element tensor without a gradient,
  /// rewritten by the next call (clone() it to keep it). Throws tg::Error naming the input when
  /// one is undefined, or if the loss function's result has more than one element.
  Tensor operator()(const std::vector<Tensor>& inputs);
  /// True once made by tg::compile_step.
  bool defined() const { return impl_ != nullptr; }
  /// Compiled steps kept (one per input signature seen).
  size_t programs() const;
  /// Times a call had to compile (the first signature is compiled by tg::compile_step).
  size_t compilations() const;

  struct Impl;  ///< the loss function's steps and the optimizer (compile_step.cpp)

 private:
  std::unique_ptr<Impl> impl_;
  friend CompiledStep compile_step(TensorFn loss_fn, const std::vector<Tensor>& example_inputs,
                                   optim::Optimizer& optimizer, CompileStepOptions options);
};

/// Compiles `loss_fn` at `example_inputs` (as tg::compile) into a training step that updates
/// `optimizer`'s parameters; `optimizer` must outlive the step. Throws tg::Error as tg::compile.
CompiledStep compile_step(TensorFn loss_fn, const std::vector<Tensor>& example_inputs, optim::Optimizer& optimizer,
                          CompileStepOptions options = {});

}  // namespace tapegrad
