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
  bool tracing = false;  // compile() traces the pass into its program (trace_backward)
  uint32_t id = 0;       // this thread's passes are numbered: gradients in parts belong to one
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
  // True when the pass records the backward (create_graph): its gradients are differentiated again.
  bool recording() const { return pass_.create_graph; }
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
  // Adds `g` as the gradient of input `i` at `index` along `axis` (select's backward, g without
  // the axis). Parts of one input are kept apart and joined once when its gradient is read (one
  // stack), so that T selects of one tensor (an RNN's steps) cost one tensor's size, not T.
  void accumulate_part(size_t i, Tensor g, size_t axis, int64_t index);

 private:
  Node& node_;
  Tensor& grad_;
  const Pass& pass_;
};

// g in a tensor of `shape` at `index` along `axis`, zeros elsewhere (select's gradient; ops/index.cpp).
Tensor place_along(const Tensor& g, const Shape& shape, size_t axis, int64_t index);

// grad += g for a leaf's gradient (a copy of g when grad is undefined; out of place when grad is
// itself part of a graph), as a backward pass adds its total into grad().
void add_into_grad(Tensor& grad, const Tensor& g);

// The backward pass from `root` (upstream `seed`) to `leaves`, run while compile() traces it:
// every gradient it computes is an op's result, traced into the program. Returns each leaf's
// gradient (undefined if the root does not depend on it); no grad() changes.
std::vector<Tensor> trace_backward(const Tensor& root, const Tensor& seed, const std::vector<Tensor>& leaves);

}  // namespace tapegrad::detail
