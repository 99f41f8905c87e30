// The backward engine: replays the tape in reverse from a root, one node at a time.
#include "anomaly_check.h"
#include "op.h"
#include "tapegrad/autograd/ops.h"

namespace tapegrad {

namespace detail {

void BackwardContext::accumulate(size_t i, Tensor g) {
  const Tensor& in = node_.inputs[i];
  if (!in.requires_grad()) return;
  if (!g.defined()) throw Error(std::string(node_.name()) + ": backward produced no gradient for input " + std::to_string(i));
  if (g.shape() != in.shape()) g = sum_to(g, in.shape());
  TensorImpl* t = impl_of(in);
  if (!t->grad.defined()) {
    // Take the buffer when nothing else can see it; otherwise copy, so that no gradient
    // aliases another tensor's storage.
    if (impl_of(g)->refs.load(std::memory_order_relaxed) == 1 &&
        impl_of(g)->storage->refs.load(std::memory_order_relaxed) == 1 && impl_of(g)->node < 0)
      t->grad = std::move(g);
    else
      t->grad = g.clone();
  } else {
    t->grad.add_(g);
  }
}

}  // namespace detail

namespace {

void check_versions(const detail::Node& n, size_t position) {
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const detail::Storage* s = impl_of(n.inputs[k])->storage;
    if (s->version != n.inputs.version(k))
      throw Error(std::string(n.name()) + " (node " + std::to_string(position) + "): input " + std::to_string(k) +
                  " of shape " + n.inputs[k].shape().str() + " was modified in place by " +
                  (s->last_writer ? s->last_writer : "an in-place op") +
                  " after it was recorded; its backward needs the original values (clone() before changing it)");
  }
  const detail::Storage* s = n.output->storage;
  if (s->version != n.output_version)
    throw Error(std::string(n.name()) + " (node " + std::to_string(position) + "): its output of shape " +
                n.output->shape.str() + " was modified in place by " +
                (s->last_writer ? s->last_writer : "an in-place op") + " after it was recorded");
}

void run_backward(const Tensor& root, Tensor upstream, BackwardOptions options) {
  if (!root.defined()) throw Error("backward: the tensor is undefined");
  detail::TensorImpl* r = impl_of(root);
  if (r->graph_released)
    throw Error("backward: the graph of this " + r->shape.str() +
                " tensor was already released by an earlier backward(); pass {.retain_graph = true} to the first "
                "backward() to run it twice");
  if (!r->requires_grad)
    throw Error("backward: the tensor of shape " + r->shape.str() +
                " does not require gradients (no input was marked requires_grad(true), or it was computed under "
                "NoGradGuard)");
  if (upstream.shape() != r->shape || upstream.dtype() != r->dtype)
    throw Error("backward: upstream gradient of shape " + upstream.shape().str() + " " +
                std::string(dtype_name(upstream.dtype())) + " does not match the tensor's " + r->shape.str() + " " +
                std::string(dtype_name(r->dtype)));
  if (r->node < 0) {  // a leaf: its gradient is the upstream itself
    if (r->grad.defined()) r->grad.add_(upstream);
    else r->grad = upstream.clone();
    return;
  }
  detail::TapeImpl& tape = detail::TapeImpl::current();
  if (r->tape != static_cast<Tape*>(&tape))
    throw Error("backward: the tensor was recorded on another thread's tape; call backward() on that thread");

  NoGradGuard no_grad;  // backward formulas are not themselves recorded
  if (r->grad.defined()) r->grad.add_(upstream);
  else r->grad = upstream.clone();
  const bool anomaly = detail::anomaly_on;
  const size_t root_node = static_cast<size_t>(r->node);
  try {
    for (size_t i = root_node + 1; i-- > 0;) {
      detail::Node& n = tape.node(i);
      if (n.finished || !n.output || !n.output->grad.defined()) continue;
      check_versions(n, i);
      Tensor g = std::move(n.output->grad);  // a non-leaf keeps no gradient after its node ran
      n.output->grad = Tensor();
      detail::BackwardContext ctx(n, g);
      n.op->backward(ctx);
      if (anomaly) check_finite_backward(n, i);
      if (!options.retain_graph) tape.release(i);
    }
  } catch (...) {
    // Leave no half-propagated gradients behind: a later backward must not pick them up.
    for (size_t i = root_node + 1; i-- > 0;) {
      detail::Node& n = tape.node(i);
      if (n.output) n.output->grad = Tensor();
      n.pin = Tensor();
    }
    throw;
  }
  if (!options.retain_graph) tape.collect();
}

}  // namespace

void Tensor::backward(BackwardOptions options) const {
  if (!defined()) throw Error("backward: the tensor is undefined");
  if (numel() != 1)
    throw Error("backward: the output has shape " + shape().str() +
                "; backward() without an upstream gradient needs a scalar (one element). Reduce it first (sum, mean) "
                "or pass backward(upstream)");
  run_backward(*this, ones(shape(), dtype()), options);
}

void Tensor::backward(const Tensor& upstream, BackwardOptions options) const {
  if (!upstream.defined()) throw Error("backward: the upstream gradient is undefined");
  run_backward(*this, upstream, options);
}

}  // namespace tapegrad
