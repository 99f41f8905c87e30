// User-defined functions: a built-in op whose arguments are the user's definition.
#include "tapegrad/autograd/function.h"

#include <memory>

#include "ops/op.h"

namespace tapegrad {

namespace detail {
namespace {

struct FunctionArgs {
  std::shared_ptr<const FunctionDef> def;
};

// The user's forward runs with recording off: its result is one node, whose backward is theirs.
Tensor function_forward(Inputs in, FunctionArgs& a) {
  const FunctionDef& def = *a.def;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = def.forward(in.vec());
  }
  if (!out.defined()) throw Error(def.name + ": the forward returned an undefined tensor");
  // The output gets its own node link, so it must be a tensor of its own.
  for (size_t i = 0; i < in.size(); ++i)
    if (out.is_same(in[i])) out = out.clone();
  if (impl_of(out)->refs.load() > 1 || impl_of(out)->node >= 0) out = make_view(out, out.shape());
  return out;
}

std::string plural(size_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

// Adds the gradients the user's backward returns, checking their count, shapes and dtypes.
void function_backward(BackwardContext& c, const FunctionArgs& a) {
  const FunctionDef& def = *a.def;
  Tensor out = c.output();
  const std::vector<Tensor> inputs = c.node().inputs.vec();
  std::vector<Tensor> grads = def.backward(FunctionContext{inputs, out, c.grad()});
  if (grads.size() != inputs.size())
    throw Error(def.name + ": backward returned " + plural(grads.size(), "gradient") + " for " +
                plural(inputs.size(), "input"));
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || !c.needs_grad(i)) continue;
    if (grads[i].shape() != inputs[i].shape() || grads[i].dtype() != inputs[i].dtype())
      throw Error(def.name + ": backward returned a gradient of shape " + grads[i].shape().str() + " " +
                  std::string(dtype_name(grads[i].dtype())) + " for input " + std::to_string(i) + " of shape " +
                  inputs[i].shape().str() + " " + std::string(dtype_name(inputs[i].dtype())));
    c.accumulate(i, std::move(grads[i]));
  }
}

// A user function registers its own samples (testing.h), so this op has none of its own.
const Op<FunctionArgs> kFunction({.name = "function",
                                  .forward = function_forward,
                                  .backward = function_backward,
                                  .samples = {},
                                  .name_of = [](const FunctionArgs& a) { return a.def->name.c_str(); }});

}  // namespace
}  // namespace detail

Function::Function(std::string name, std::function<Tensor(const std::vector<Tensor>&)> forward,
                   std::function<std::vector<Tensor>(const FunctionContext&)> backward)
    : def_(std::make_shared<FunctionDef>(FunctionDef{std::move(name), std::move(forward), std::move(backward)})) {
  if (!def_->forward || !def_->backward) throw Error("Function " + def_->name + ": forward and backward are both required");
}

Tensor Function::operator()(const std::vector<Tensor>& inputs) const {
  return detail::kFunction(detail::Inputs(inputs), detail::FunctionArgs{def_});
}

}  // namespace tapegrad
