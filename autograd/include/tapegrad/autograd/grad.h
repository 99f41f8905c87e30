#pragma once
/// \file grad.h
/// Gradients as returned values, and derivatives of derivatives: tg::grad, and the functional
/// helpers jacobian, hessian and hvp built on it. See docs/higher-order.md.
#include <vector>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// Settings of tg::grad.
struct GradOptions {
  /// Keep the recorded nodes, so that backward or grad can run through them again.
  bool retain_graph = false;
  /// Record the backward pass, so that the returned gradients are differentiable (implies
  /// retain_graph).
  bool create_graph = false;
  /// An input the output does not depend on gets zeros instead of an error.
  bool allow_unused = false;
  /// The upstream gradient (the vector of a vector-Jacobian product), of the output's shape and
  /// dtype; undefined means ones, for a one-element output.
  Tensor grad_output = {};
};

/// The gradients of `output` with respect to each of `inputs` (leaves or recorded tensors), as
/// returned values: no tensor's grad() changes. An input that `output` does not depend on is a
/// tg::Error naming it, unless `allow_unused`.
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const GradOptions& options = {});

/// The L2 norm of the gradient of the one-element `output` with respect to each of `inputs` (as
/// tg::grad computes it; no grad() changes): how the gradient's size changes layer by layer, the
/// vanishing gradient of a deep sigmoid net made visible (docs/rnn.md).
std::vector<double> gradient_norms(const Tensor& output, const std::vector<Tensor>& inputs);

/// The L2 norm of d output / d x at each position along `axis` of x: a sequence's gradient step
/// by step (how far back through time a recurrent net's gradient reaches, docs/rnn.md).
std::vector<double> gradient_norms_along(const Tensor& output, const Tensor& x, int64_t axis);

/// The Jacobian of `fn` at `inputs`: [outputs, N], where N counts every input's elements,
/// flattened and concatenated in input order. One backward pass per output element.
Tensor jacobian(const TensorFn& fn, const std::vector<Tensor>& inputs);

/// The Hessian [N, N] of a one-element `fn` at `inputs` (N as for jacobian): the Jacobian of
/// its gradient, by double backward, one pass per row. For curvature along a few directions,
/// hvp costs one pass each and never forms the N x N matrix.
Tensor hessian(const TensorFn& fn, const std::vector<Tensor>& inputs);

/// The Hessian-vector product of a one-element `fn` at `inputs` with `vectors` (one per input,
/// of its shape): H v, returned one tensor per input, by double backward (the gradient's dot
/// product with v, differentiated again), never by forming H.
std::vector<Tensor> hvp(const TensorFn& fn, const std::vector<Tensor>& inputs, const std::vector<Tensor>& vectors);

}  // namespace tapegrad
