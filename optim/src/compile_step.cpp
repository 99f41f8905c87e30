// A training step compiled once. Each call zeroes nothing: the optimizer's gradients are dropped
// (set to none) so that the step's backward writes them, exactly as the eager loop's zero_grad()
// leaves them for its backward, then the update runs on them. The gradients it writes are the
// program's own buffers (CompileOptions::grads_in_program).
#include "tapegrad/optim/compile_step.h"

#include <string>
#include <utility>

#include "tapegrad/core/error.h"

namespace tapegrad {

struct CompiledStep::Impl {
  Impl(TensorFn fn, optim::Optimizer& opt, CompileStepOptions o)
      : steps(std::move(fn), in_program(o.compile), o.capacity), optimizer(opt), options(std::move(o)) {}
  // The gradients are the program's buffers (CompileOptions::grads_in_program): zero_grad(true)
  // drops them, and the backward hands them back rewritten, with nothing allocated or copied.
  static CompileOptions in_program(CompileOptions c) {
    c.grads_in_program = true;
    return c;
  }
  CompiledCache steps;
  optim::Optimizer& optimizer;
  CompileStepOptions options;
};

CompiledStep::CompiledStep() = default;
CompiledStep::CompiledStep(CompiledStep&& other) noexcept = default;
CompiledStep& CompiledStep::operator=(CompiledStep&& other) noexcept = default;
CompiledStep::~CompiledStep() = default;

size_t CompiledStep::programs() const { return impl_ ? impl_->steps.size() : 0; }
size_t CompiledStep::compilations() const { return impl_ ? impl_->steps.compilations() : 0; }

Tensor CompiledStep::operator()(const std::vector<Tensor>& inputs) {
  if (!impl_) throw Error("compiled training step: it is empty (default-constructed or moved from); make it with tg::compile_step");
  Compiled& step = impl_->steps.step_for(inputs);
  impl_->optimizer.zero_grad(true);
  Tensor loss = step.call(inputs, true);
  if (loss.numel() != 1)
    throw Error("compiled training step: the loss function returned a " + loss.shape().str() +
                " tensor; it must return the loss, one element");
  step.backward_from_one(loss);
  if (impl_->options.before_update) impl_->options.before_update();
  impl_->optimizer.step();
  return loss.detach();
}

CompiledStep compile_step(TensorFn loss_fn, const std::vector<Tensor>& example_inputs, optim::Optimizer& optimizer,
                          CompileStepOptions options) {
  if (!loss_fn) throw Error("compile_step: the loss function is empty");
  CompiledStep s;
  s.impl_ = std::make_unique<CompiledStep::Impl>(std::move(loss_fn), optimizer, std::move(options));
  s.impl_->steps.step_for(example_inputs);  // compiled now: a function that cannot be is an error here
  return s;
}

}  // namespace tapegrad
