#pragma once
// Private: what an op's backward sees of the backward pass (engine/backward.cpp runs it).
#include <vector>

#include "engine/node.h"

namespace tapegrad::detail {

// A backward pass's settings: whether it records itself, and for tg::grad the tensors it
// returns gradients for.
struct Pass {
  bool create_graph = false;
  const std::vector<Tensor>* targets = nullptr;
};

// What a node's backward sees: the upstream gradient, the inputs, the output, and a way to add
// each input's gradient.
class BackwardContext {
 public:
  // `pass`: the pass under way (its settings are read here, not from thread-local state, on the
  // hot path of every accumulate).
  BackwardContext(Node& node, Tensor& grad, const Pass& pass) : node_(node), grad_(grad), pass_(pass) {}
  // Gradient of the loss with respect to this node's output.
  const Tensor& grad() const { return grad_; }
  // The upstream gradient, moved out (for its last use: lets accumulate() keep the buffer).
  Tensor take_grad() { return std::move(grad_); }
  // Input `i` as recorded.
  const Tensor& input(size_t i) const { return node_.inputs[i]; }
  size_t inputs() const { return node_.inputs.size(); }
  // True if input `i` needs a gradient.
  bool needs_grad(size_t i) const { return impl_of(node_.inputs[i])->requires_grad; }
  // The node's output value, without taking a reference (for kernels that only read it).
  const TensorImpl& output_impl() const { return *node_.output; }
  // The node's output value.
  Tensor output() const {
    node_.output->retain();
    return adopt(node_.output);
  }
  const Node& node() const { return node_; }
  // Adds `g` into input `i`'s gradient, summing over broadcast dimensions first.
  void accumulate(size_t i, Tensor g);

 private:
  Node& node_;
  Tensor& grad_;
  const Pass& pass_;
};

}  // namespace tapegrad::detail
