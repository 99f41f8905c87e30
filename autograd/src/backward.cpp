// The backward engine: replays the tape in reverse from a root, one node at a time.
#include "anomaly_check.h"
#include "op.h"
#include "tapegrad/autograd/ops.h"

namespace tapegrad {

namespace detail {

namespace {
// A released node is not a leaf: taking its output's gradient as final would silently drop
// every path through that node (PyTorch: "Trying to backward through the graph a second time").
[[noreturn]] void throw_released_input(const Node& n, size_t i) {
  const TensorImpl* t = impl_of(n.inputs[i]);
  throw Error(std::string("backward: input ") + std::to_string(i) + " of " + n.name() + ", a " + t->shape.str() +
              " tensor, is the output of a node that " +
              (t->tape_exited ? "was released when the thread that recorded it exited"
                              : "an earlier backward() released") +
              ", so the gradient cannot flow back through it; pass {.retain_graph = true} to the first backward() "
              "to run through the graph twice, or detach() the tensor to treat it as a constant");
}
}  // namespace

// The leaves that received a gradient in the passes under way on this thread (nested passes
// stack): each pass sums its contributions to a leaf in `pending` and adds the total to grad()
// once at its end, so a pass adds exactly its gradient (g + (c1 + c2), never (g + c1) + c2).
// (Reached through an initial-exec pointer: a direct load, not a __tls_get_addr call per leaf.)
TG_TLS thread_local std::vector<Tensor>* pending_list = nullptr;
std::vector<Tensor>& pending_leaves() {
  if (!pending_list) [[unlikely]] {
    thread_local std::vector<Tensor> owner;
    pending_list = &owner;
  }
  return *pending_list;
}

namespace {
// Takes `g` when nothing else can see it; otherwise copies, so that no gradient aliases another
// tensor's storage.
Tensor own(Tensor g) {
  if (impl_of(g)->refs.load(std::memory_order_relaxed) == 1 &&
      impl_of(g)->storage->refs.load(std::memory_order_relaxed) == 1 && impl_of(g)->node < 0)
    return g;
  return copy_of(g);
}
}  // namespace

void BackwardContext::accumulate(size_t i, Tensor g) {
  const Tensor& in = node_.inputs[i];
  if (!impl_of(in)->requires_grad) return;
  if (!g.defined()) throw Error(std::string(node_.name()) + ": backward produced no gradient for input " + std::to_string(i));
  TensorImpl* t = impl_of(in);
  if (g.shape() != in.shape()) {
    // Only size-1 axes differ (a bias at batch 1): the same values, seen in the input's shape.
    if (g.numel() == in.numel()) g = make_view(g, in.shape());
    else g = sum_to(g, in.shape());
  }
  if (t->node < 0) {
    if (t->graph_released) [[unlikely]] throw_released_input(node_, i);  // released: no leaf
    if (!t->pending.defined()) {
      pending_leaves().push_back(in);
      t->pending = own(std::move(g));
    } else {
      t->pending.add_(g);
    }
    return;
  }
  if (!t->grad.defined()) t->grad = own(std::move(g));
  else t->grad.add_(g);
}

}  // namespace detail

namespace {

// Names the tensor whose buffer `s` is, for a version error: its place in a module if it has one.
std::string labelled(const std::string& what, const detail::Storage* s) {
  const std::string label = s->label();
  return label.empty() ? what : what + " (" + label + ")";
}

// The fix depends on who wrote: an optimizer's step() between forward and backward is a call
// order mistake, not a tensor to clone.
std::string version_error(const detail::Node& n, size_t position, const std::string& what, const detail::Storage* s) {
  std::string msg = std::string(n.name()) + " (node " + std::to_string(position) + "): " + labelled(what, s) +
                    " was modified in place by ";
  if (detail::is_step_writer(s->last_writer))
    return msg + s->last_writer + ".step() after it was recorded: the optimizer updated it before this backward() " +
           "ran. Call backward() before step() (each iteration: zero_grad(), forward, loss.backward(), step())";
  return msg + (s->last_writer ? s->last_writer : "an in-place op") +
         " after it was recorded; its backward needs the original values (clone() before changing it)";
}

void check_versions(const detail::Node& n, size_t position) {
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const detail::Storage* s = impl_of(n.inputs[k])->storage;
    if (s->version != n.inputs.version(k))
      throw Error(version_error(n, position, "input " + std::to_string(k) + " of shape " + n.inputs[k].shape().str(), s));
  }
  const detail::Storage* s = n.output->storage;
  if (s->version != n.output_version)
    throw Error(version_error(n, position, "its output of shape " + n.output->shape.str(), s));
}

void run_backward(const Tensor& root, Tensor upstream, BackwardOptions options) {
  if (!root.defined()) throw Error("backward: the tensor is undefined");
  detail::TensorImpl* r = impl_of(root);
  if (r->graph_released && r->tape_exited)
    throw Error("backward: the graph of this " + r->shape.str() +
                " tensor was released when the thread that recorded it exited (tapes are per thread: call "
                "backward() on the recording thread, before it ends)");
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
    else r->grad = detail::own(std::move(upstream));  // copied only if the caller still holds it
    return;
  }
  detail::TapeImpl& tape = detail::TapeImpl::current();
  if (r->tape != static_cast<Tape*>(&tape))
    throw Error("backward: the tensor was recorded on another thread's tape; call backward() on that thread");

  NoGradGuard no_grad;  // backward formulas are not themselves recorded
  if (r->grad.defined()) r->grad.add_(upstream);
  else r->grad = detail::own(std::move(upstream));  // copied only if the caller still holds it
  const bool anomaly = detail::anomaly_on;
  const size_t root_node = static_cast<size_t>(r->node);
  std::vector<Tensor>& pending = detail::pending_leaves();
  const size_t first_leaf = pending.size();
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
    for (size_t k = first_leaf; k < pending.size(); ++k) impl_of(pending[k])->pending = Tensor();
    pending.resize(first_leaf);
    throw;
  }
  for (size_t k = first_leaf; k < pending.size(); ++k) {
    detail::TensorImpl* t = impl_of(pending[k]);
    if (!t->grad.defined()) {
      t->grad = std::move(t->pending);
    } else {
      t->grad.add_(t->pending);
      t->pending = Tensor();
    }
  }
  pending.resize(first_leaf);
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
