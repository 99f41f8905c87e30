#include "tapegrad/autograd/function.h"

#include "tapegrad/autograd/tape.h"
#include "tapegrad/autograd/tensor_impl.h"

namespace tapegrad {

namespace detail {
namespace {
const OpDef kUserFunction{"function", nullptr,
                          [](const Node& n, const std::vector<Tensor>& in) { return apply_function(n.function, in); }};
}

Tensor apply_function(const std::shared_ptr<const FunctionDef>& def, const std::vector<Tensor>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined()) throw Error(def->name + ": input " + std::to_string(i) + " is undefined");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = def->forward(inputs);
  }
  if (!out.defined()) throw Error(def->name + ": the forward returned an undefined tensor");
  // The output gets its own node link, so it must be a tensor of its own.
  for (const Tensor& in : inputs)
    if (out.impl() == in.impl()) out = out.clone();
  if (out.impl()->refs.load() > 1 || out.impl()->node >= 0) out = make_view(out, out.shape());
  return record(kUserFunction, std::move(out), inputs, NodeArgs{}, def);
}
}  // namespace detail

Function::Function(std::string name, std::function<Tensor(const std::vector<Tensor>&)> forward,
                   std::function<std::vector<Tensor>(const FunctionContext&)> backward)
    : def_(std::make_shared<FunctionDef>(FunctionDef{std::move(name), std::move(forward), std::move(backward)})) {
  if (!def_->forward || !def_->backward) throw Error("Function " + def_->name + ": forward and backward are both required");
}

Tensor Function::operator()(const std::vector<Tensor>& inputs) const { return detail::apply_function(def_, inputs); }

void run_function_backward(detail::BackwardContext& ctx, const FunctionDef& def) {
  const detail::Node& n = ctx.node();
  Tensor out = ctx.output();
  const std::vector<Tensor> inputs = n.inputs.vec();
  std::vector<Tensor> grads = def.backward(FunctionContext{inputs, out, ctx.grad()});
  if (grads.size() != n.inputs.size())
    throw Error(def.name + ": backward returned " + std::to_string(grads.size()) + " gradients for " +
                std::to_string(n.inputs.size()) + " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || !ctx.needs_grad(i)) continue;
    if (grads[i].shape() != n.inputs[i].shape() || grads[i].dtype() != n.inputs[i].dtype())
      throw Error(def.name + ": backward returned a gradient of shape " + grads[i].shape().str() + " " +
                  std::string(dtype_name(grads[i].dtype())) + " for input " + std::to_string(i) + " of shape " +
                  n.inputs[i].shape().str() + " " + std::string(dtype_name(n.inputs[i].dtype())));
    ctx.accumulate(i, std::move(grads[i]));
  }
}

}  // namespace tapegrad
