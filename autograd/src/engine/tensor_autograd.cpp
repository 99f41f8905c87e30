// The autograd half of the Tensor handle: declared with it in core, defined here because it
// reads and writes the tape (requires_grad, grad, and the node link an output drops).
#include <string>

#include "tapegrad/autograd/tape.h"
#include "engine/node.h"
#include "tensor_impl.h"

namespace tapegrad {

using detail::TensorImpl;

TensorImpl::~TensorImpl() {
  if (node >= 0 && tape) detail::impl_of(*tape).on_output_destroyed(node);
  if (storage) storage->release();
}

namespace {
const TensorImpl& need(const TensorImpl* p, const char* what) {
  if (!p) throw Error(std::string(what) + ": the tensor is undefined (default-constructed)");
  return *p;
}
}  // namespace

Tensor Tensor::requires_grad(bool on) const {
  TensorImpl& i = const_cast<TensorImpl&>(need(impl_, "requires_grad"));
  if (i.node >= 0)
    throw Error("requires_grad: only leaf tensors can be marked; this one is the output of " +
                std::string(detail::impl_of(*i.tape).node(static_cast<size_t>(i.node)).name()) + " (use detach() first)");
  if (on && !is_floating(i.dtype))  // as PyTorch: only floating-point tensors have gradients
    throw Error("requires_grad: an " + std::string(dtype_name(i.dtype)) + " tensor of shape " + i.shape.str() +
                " cannot require gradients; only float32 and float64 tensors can");
  i.requires_grad = on;
  i.graph_released = false;  // marked explicitly: from now on a leaf
  i.tape_exited = false;
  return *this;
}
bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }
bool Tensor::is_leaf() const {
  const TensorImpl& i = need(impl_, "is_leaf");
  return i.node < 0 && !i.graph_released;
}
bool Tensor::has_grad() const { return impl_ && impl_->grad.defined(); }

Tensor Tensor::grad() const {
  const TensorImpl& i = need(impl_, "grad");
  if (i.grad.defined()) return i.grad;
  if (!i.requires_grad)
    throw Error("grad: the tensor of shape " + i.shape.str() +
                " does not require gradients; mark it with requires_grad(true) before the forward pass");
  if (i.node >= 0)
    throw Error("grad: the tensor of shape " + i.shape.str() + " is the output of " +
                std::string(detail::impl_of(*i.tape).node(static_cast<size_t>(i.node)).name()) +
                ", not a leaf; only leaves keep their gradient after backward()");
  if (i.graph_released)
    throw Error("grad: the tensor of shape " + i.shape.str() +
                " is the output of an op (its graph was released by backward()), not a leaf; only leaves keep "
                "their gradient");
  return zeros(i.shape, i.dtype);
}

void Tensor::zero_grad() {
  TensorImpl& i = const_cast<TensorImpl&>(need(impl_, "zero_grad"));
  if (i.grad.defined()) i.grad.fill_(0.0);
}

void Tensor::set_grad(const Tensor& g) {
  TensorImpl& i = const_cast<TensorImpl&>(need(impl_, "set_grad"));
  if (g.defined() && (g.shape() != i.shape || g.dtype() != i.dtype))
    throw Error("set_grad: gradient of shape " + g.shape().str() + " " + std::string(dtype_name(g.dtype())) +
                " does not match tensor of shape " + i.shape.str() + " " + std::string(dtype_name(i.dtype)));
  i.grad = g;
}

}  // namespace tapegrad
