// Recording nodes and replaying them in reverse.
#include "tapegrad/autograd/tape.h"

#include <algorithm>
#include <sstream>

#include "tapegrad/autograd/anomaly.h"
#include "tapegrad/autograd/function.h"
#include "tapegrad/autograd/ops.h"
#include "tapegrad/autograd/tensor_impl.h"
#include "tapegrad/autograd/tls.h"

namespace tapegrad {

namespace {
TG_TLS thread_local bool grad_enabled = true;
TG_TLS thread_local Tape* tls_tape = nullptr;
// Above this many slots, an empty tape gives its spare slots back instead of keeping them.
constexpr size_t kKeepSlots = size_t{1} << 16;
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }

const char* detail::Node::name() const { return function ? function->name.c_str() : op->name; }

Tape::Tape() { detail::pool_init(); }

// Releasing every node also unlinks the tensors they produced, so none points at this tape.
Tape::~Tape() { clear(); }

Tape& Tape::current() {
  if (!tls_tape) [[unlikely]] {
    thread_local std::unique_ptr<Tape> owner(new Tape);  // destroyed at thread exit
    tls_tape = owner.get();
  }
  return *tls_tape;
}

detail::Node& Tape::push() {
  if (used_ > 0 && finished_ == used_) {
    used_ = finished_ = 0;
    dead_pending_ = 0;
  } else if (dead_pending_ > 256 && dead_pending_ * 4 > used_ - finished_) {
    collect();
  }
  if (used_ == nodes_.size()) nodes_.emplace_back();
  detail::Node& n = nodes_[used_++];
  n.dead = n.finished = false;
  return n;
}

void Tape::release(size_t index) {
  using detail::TensorImpl;
  detail::Node& n = nodes_[index];
  if (n.finished) return;
  n.finished = true;
  ++finished_;
  if (n.dead) --dead_pending_;
  if (n.output) {
    n.output->node = -1;
    n.output->graph_released = true;
    n.output = nullptr;
  }
  // Clearing inputs may destroy tensors whose own nodes (earlier on the tape) then become dead;
  // callers sweep in reverse order, so those are reached later in the same loop.
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    TensorImpl* t = n.inputs[k].impl();
    if (t->node >= 0 && t->tape == this && t->grad.defined()) nodes_[static_cast<size_t>(t->node)].pin = n.inputs[k];
  }
  n.inputs.clear();
  n.args.saved = Tensor();
  n.function.reset();
  n.pin = Tensor();
}

void Tape::on_output_destroyed(int64_t index) {
  detail::Node& n = nodes_[static_cast<size_t>(index)];
  n.output = nullptr;
  n.dead = true;
  ++dead_pending_;
}

void Tape::collect() {
  for (size_t i = used_; i-- > 0;)
    if (nodes_[i].dead && !nodes_[i].finished) release(i);
  while (used_ > 0 && nodes_[used_ - 1].finished) {
    --used_;
    --finished_;
  }
}

void Tape::clear() {
  for (size_t i = used_; i-- > 0;) release(i);
  used_ = finished_ = dead_pending_ = 0;
}

void Tape::shrink() {
  if (used_ == 0 || finished_ == used_) {
    used_ = finished_ = dead_pending_ = 0;
    nodes_.clear();
    nodes_.shrink_to_fit();
  }
}

namespace detail {

namespace {
// `in` is any range of const Tensor& (a braced list of references, or a vector).
template <class Range>
Tensor record_impl(const OpDef* op, Tensor out, const Range& in, NodeArgs&& args,
                   std::shared_ptr<const FunctionDef> function) {
  if (!grad_enabled) return out;
  bool any = false;
  for (const Tensor& t : in) any = any || t.requires_grad();
  if (!any) return out;
  Tape& tape = Tape::current();
  const char* name = function ? function->name.c_str() : op->name;
  size_t k = 0;
  for (const Tensor& t : in) {
    if (t.impl()->node >= 0 && t.impl()->tape != &tape)
      throw Error(std::string(name) + ": input " + std::to_string(k) +
                  " was recorded on another thread's tape; tapes are per thread (detach() it or compute it here)");
    ++k;
  }
  if (anomaly_on) [[unlikely]] check_finite_forward(name, out, tape.size());
  Node& n = tape.push();
  n.op = op;
  n.function = std::move(function);
  n.output = out.impl();
  n.inputs.clear();
  for (const Tensor& t : in) n.inputs.push_back(t, t.impl()->storage->version);
  n.output_version = out.impl()->storage->version;
  n.args = std::move(args);
  TensorImpl* o = out.impl();
  o->requires_grad = true;
  o->tape = &tape;
  o->node = static_cast<int64_t>(tape.size() - 1);
  return out;
}
}  // namespace

Tensor record(const OpDef& op, Tensor out, TensorRefs inputs, NodeArgs args) {
  return record_impl(&op, std::move(out), inputs, std::move(args), nullptr);
}

Tensor record(const OpDef& op, Tensor out, const std::vector<Tensor>& inputs, NodeArgs args,
              std::shared_ptr<const FunctionDef> function) {
  return record_impl(&op, std::move(out), inputs, std::move(args), std::move(function));
}

Tensor BackwardContext::output() const {
  node_.output->retain();
  return Tensor::adopt(node_.output);
}

void BackwardContext::accumulate(size_t i, Tensor g) {
  const Tensor& in = node_.inputs[i];
  if (!in.requires_grad()) return;
  if (!g.defined()) throw Error(std::string(node_.name()) + ": backward produced no gradient for input " + std::to_string(i));
  if (g.shape() != in.shape()) g = sum_to(g, in.shape());
  TensorImpl* t = in.impl();
  if (!t->grad.defined()) {
    // Take the buffer when nothing else can see it; otherwise copy, so that no gradient
    // aliases another tensor's storage.
    if (g.impl()->refs.load(std::memory_order_relaxed) == 1 &&
        g.impl()->storage->refs.load(std::memory_order_relaxed) == 1 && g.impl()->node < 0)
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
    const detail::Storage* s = n.inputs[k].impl()->storage;
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
  detail::TensorImpl* r = root.impl();
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
  Tape& tape = Tape::current();
  if (r->tape != &tape)
    throw Error("backward: the tensor was recorded on another thread's tape; call backward() on that thread");

  NoGradGuard no_grad;  // backward formulas are not themselves recorded
  if (r->grad.defined()) r->grad.add_(upstream);
  else r->grad = upstream.clone();
  const bool anomaly = anomaly_enabled();
  const size_t root_node = static_cast<size_t>(r->node);
  try {
    for (size_t i = root_node + 1; i-- > 0;) {
      detail::Node& n = tape.node(i);
      if (n.finished || !n.output || !n.output->grad.defined()) continue;
      check_versions(n, i);
      Tensor g = std::move(n.output->grad);  // a non-leaf keeps no gradient after its node ran
      n.output->grad = Tensor();
      detail::BackwardContext ctx(n, g);
      if (n.function) {
        run_function_backward(ctx, *n.function);
      } else {
        n.op->backward(ctx);
      }
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

std::vector<NodeView> Tape::nodes_of(const Tensor& root) const {
  std::vector<NodeView> out;
  if (!root.defined() || root.impl()->node < 0 || root.impl()->tape != this) return out;
  std::vector<char> reached(used_, 0);
  reached[static_cast<size_t>(root.impl()->node)] = 1;
  for (size_t i = static_cast<size_t>(root.impl()->node) + 1; i-- > 0;) {
    if (!reached[i]) continue;
    const detail::Node& n = nodes_[i];
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (const Tensor& in = n.inputs[k]; in.impl()->node >= 0 && in.impl()->tape == this) reached[static_cast<size_t>(in.impl()->node)] = 1;
  }
  for (size_t i = 0; i <= static_cast<size_t>(root.impl()->node); ++i) {
    if (!reached[i] || nodes_[i].finished || !nodes_[i].output) continue;
    const detail::Node& n = nodes_[i];
    n.output->retain();
    out.push_back({i, n.name(), n.inputs.vec(), Tensor::adopt(n.output), &n});
  }
  return out;
}

std::string Tape::to_dot(const Tensor& root) const {
  std::ostringstream os;
  os << "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  std::vector<NodeView> nodes = nodes_of(root);
  size_t leaves = 0;
  for (const NodeView& v : nodes) {
    os << "  n" << v.position << " [label=\"#" << v.position << " " << v.op << "\\n" << v.output.shape().str()
       << "\"];\n";
    for (size_t k = 0; k < v.inputs.size(); ++k) {
      const Tensor& in = v.inputs[k];
      if (in.impl()->node >= 0 && in.impl()->tape == this) {
        os << "  n" << in.impl()->node << " -> n" << v.position << ";\n";
      } else {
        os << "  leaf" << leaves << " [shape=ellipse, label=\"" << (in.requires_grad() ? "param " : "input ")
           << in.shape().str() << "\"];\n  leaf" << leaves << " -> n" << v.position << ";\n";
        ++leaves;
      }
    }
  }
  os << "}\n";
  return os.str();
}

std::string to_dot(const Tensor& root) { return Tape::current().to_dot(root); }

}  // namespace tapegrad
