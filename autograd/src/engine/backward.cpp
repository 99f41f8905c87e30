// The backward engine: replays the tape in reverse from a root, one node at a time.
#include <algorithm>

#include "check/anomaly.h"
#include "ops/lanes.h"
#include "ops/op.h"
#include "tapegrad/autograd/grad.h"
#include "tapegrad/autograd/ops.h"

namespace tapegrad {

namespace detail {

namespace {
// A released node is not a leaf: taking its output's gradient as final would silently drop
// every path through that node (PyTorch: "Trying to backward through the graph a second time").
[[noreturn]] void throw_released_input(const Node& n, size_t i) {
  const TensorImpl* t = impl_of(n.inputs[i]);
  if (t->step_released)
    throw Error(std::string("backward: input ") + std::to_string(i) + " of " + n.name() + ", a " + t->shape.str() +
                " tensor, was computed by a compiled step that has since been destroyed (it went out of scope, a "
                "CompiledCache evicted it, or its compile() failed), which released its nodes, so the gradient "
                "cannot flow back through it; keep the step alive until backward() has run, or detach() the tensor "
                "to treat it as a constant");
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
// tensor's storage. (Under create_graph the copy is a recorded clone: it stays differentiable.)
// While compile() traces the pass, a gradient is a slot of the program and may alias another:
// nothing is written in place then, and the program copies the leaves' gradients out at its end.
Tensor own(Tensor g, bool tracing = false) {
  if (tracing) return g;
  if (impl_of(g)->refs.load(std::memory_order_relaxed) == 1 &&
      impl_of(g)->storage->refs.load(std::memory_order_relaxed) == 1 && (impl_of(g)->node < 0 || grad_enabled))
    return g;
  return grad_enabled ? g.clone() : copy_of(g);
}

// slot += g. Out of place when the pass records (the sum is a node of the gradient's graph) or
// when the slot already is part of a graph (a create_graph pass left it): changing it in place
// would corrupt the nodes that read it.
// While compile() traces the pass, the sum is the op add (the in-place add_ is not an op, and
// gives the same bits: a += 1 * b).
inline void add_into(Tensor& slot, Tensor g, bool create_graph, bool tracing = false) {
  if (!slot.defined()) slot = own(std::move(g), tracing);
  else if (!create_graph && !tracing && !impl_of(slot)->requires_grad) [[likely]] slot.add_(g);
  else slot = add(slot, g);
}

}  // namespace

void add_into_grad(Tensor& grad, const Tensor& g) {
  if (!grad.defined()) grad = copy_of(g);
  else if (!impl_of(grad)->requires_grad) grad.add_(g);
  else grad = add(grad, g);
}

// Which of tg::grad's targets `t` is, or -1 (always -1 for backward(), which has none).
int64_t target_index(const std::vector<Tensor>* targets, const TensorImpl* t) {
  if (!targets) return -1;
  for (size_t k = 0; k < targets->size(); ++k)
    if (impl_of((*targets)[k]) == t) return static_cast<int64_t>(k);
  return -1;
}

// ---- gradients in parts ----
// The parts of one tensor's gradient, each at an index along one axis (accumulate_part), until
// the gradient is read. Per thread; a pass's entries are dropped when it ends.
namespace {
struct GradParts {
  TensorImpl* owner;
  uint32_t pass;  // the pass that collects them (Pass::id)
  size_t axis;
  std::vector<std::pair<int64_t, Tensor>> parts;
};

// Reached through an initial-exec pointer, as pending_list: every backward pass reads its size,
// and a thread_local vector would cost a guarded TLS call each time.
TG_TLS thread_local std::vector<GradParts>* parts_list = nullptr;
std::vector<GradParts>& grad_parts() {
  if (!parts_list) [[unlikely]] {
    thread_local std::vector<GradParts> owner;
    parts_list = &owner;
  }
  return *parts_list;
}
TG_TLS thread_local uint32_t last_pass_id = 0;

GradParts* parts_of(const TensorImpl* t) {
  for (GradParts& p : grad_parts())
    if (p.owner == t) return &p;
  return nullptr;
}

// The parts as one tensor: one stack, with zeros where no part came and the sum where several
// came at one index (added in their order of arrival, as accumulate would have). A lone part, or
// a few of a long axis, are each put in place (as select's gradient always was) and added.
Tensor joined(GradParts& p) {
  const TensorImpl& t = *p.owner;
  const int64_t n = t.shape[p.axis];
  // A few parts of a long axis (two rows of a table): each in place and added, rather than a
  // stack of mostly zeros.
  if (p.parts.size() == 1 || static_cast<int64_t>(p.parts.size()) * 8 < n) {
    Tensor total;
    for (auto& [index, g] : p.parts) {
      Tensor placed = place_along(g, t.shape, p.axis, index);
      total = total.defined() ? add(total, placed) : std::move(placed);
    }
    return total;
  }
  std::stable_sort(p.parts.begin(), p.parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Tensor> rows(static_cast<size_t>(n));
  Tensor zero;
  for (auto& [index, g] : p.parts) {
    Tensor& r = rows[static_cast<size_t>(index)];
    r = r.defined() ? add(r, g) : std::move(g);
  }
  for (Tensor& r : rows)
    if (!r.defined()) {
      if (!zero.defined()) zero = zeros(reduced_shape(t.shape, p.axis, false), t.dtype);
      r = zero;
    }
  return stack(rows, static_cast<int64_t>(p.axis));
}

// Moves t's parts into its gradient slot (its pending one for a leaf), which is then undefined:
// the parts arrive only while the slot is, and a whole gradient joins them before it is added.
void join_parts(TensorImpl* t) {
  GradParts* p = parts_of(t);
  if (!p)
    throw Error("backward: the gradient of a " + t->shape.str() +
                " tensor is being collected by another thread's backward pass; tapes are per thread, and a tensor "
                "cannot take gradients from two threads' passes at once");
  (t->node < 0 ? t->pending : t->grad) = joined(*p);
  grad_parts().erase(grad_parts().begin() + (p - grad_parts().data()));
  t->grad_in_parts = false;
}

// Ends the parts of pass `id` (joined ones are gone already): on an error, or for outputs of
// nodes the pass never reached. By pass, not by position: a nested pass may join an outer one's.
void drop_parts(uint32_t id) {
  if (!parts_list || parts_list->empty()) return;
  std::erase_if(*parts_list, [id](const GradParts& p) {
    if (p.pass != id) return false;
    p.owner->grad_in_parts = false;
    return true;
  });
}
}  // namespace

void BackwardContext::accumulate_part(size_t i, Tensor g, size_t axis, int64_t index) {
  const Tensor& in = node_.inputs[i];
  TensorImpl* t = impl_of(in);
  if (!t->requires_grad) return;
  const bool leaf = t->node < 0;
  GradParts* p = t->grad_in_parts ? parts_of(t) : nullptr;
  // A whole gradient is there already, or the parts lie along another axis, or anomaly mode checks
  // each gradient as it is added: the part is put in place and added whole.
  if ((leaf ? t->pending : t->grad).defined() || (p && p->axis != axis) || anomaly_on ||
      (leaf && (t->graph_released || (pass_.targets && target_index(pass_.targets, t) < 0)))) {
    accumulate(i, place_along(g, t->shape, axis, index));
    return;
  }
  if (!p) {
    if (leaf) pending_leaves().push_back(in);
    t->grad_in_parts = true;
    p = &grad_parts().emplace_back(GradParts{t, pass_.id, axis, {}});
  }
  p->parts.emplace_back(index, std::move(g));
}

void BackwardContext::accumulate(size_t i, Tensor g) {
  const Tensor& in = node_.inputs[i];
  TensorImpl* t = impl_of(in);
  if (!t->requires_grad) return;
  if (!g.defined()) throw Error(std::string(node_.name()) + ": backward produced no gradient for input " + std::to_string(i));
  if (t->grad_in_parts) [[unlikely]] join_parts(t);
  if (impl_of(g)->shape != t->shape) {
    // Only size-1 axes differ (a bias at batch 1): the same values, seen in the input's shape.
    if (impl_of(g)->numel == t->numel)
      g = pass_.create_graph || pass_.tracing ? reshape(g, t->shape.vec()) : make_view(g, t->shape);
    else g = sum_to(g, t->shape);
  }
  if (t->node < 0) {
    if (t->graph_released) [[unlikely]] throw_released_input(node_, i);  // released: no leaf
    if (pass_.targets && target_index(pass_.targets, t) < 0) [[unlikely]] return;  // tg::grad leaves other leaves alone
    if (!t->pending.defined()) pending_leaves().push_back(in);
    add_into(t->pending, std::move(g), pass_.create_graph, pass_.tracing);
    return;
  }
  add_into(t->grad, std::move(g), pass_.create_graph, pass_.tracing);
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
  if (s->last_writer == detail::kReplayWriter)
    return std::string(n.name()) + " (node " + std::to_string(position) + "): " + labelled(what, s) +
           " is a compiled step's result (or intermediate), which a later call of the step overwrote after this "
           "node was recorded; its backward needs the values it saw. Run backward() before calling the step again, "
           "or keep the value with result.detach().clone()";
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

void check_root(const Tensor& root, const Tensor& upstream, const std::string& who, bool tracing) {
  if (!root.defined()) throw Error(who + ": the tensor is undefined");
  detail::TensorImpl* r = impl_of(root);
  if (r->graph_released && r->step_released)
    throw Error(who + ": this " + r->shape.str() +
                " tensor was computed by a compiled step that has since been destroyed (it went out of scope, a "
                "CompiledCache evicted it, or its compile() failed), which released its nodes; keep the step alive "
                "until backward() has run");
  if (r->graph_released && r->tape_exited)
    throw Error(who + ": the graph of this " + r->shape.str() +
                " tensor was released when the thread that recorded it exited (tapes are per thread: call "
                "backward() on the recording thread, before it ends)");
  if (r->graph_released)
    throw Error(who + ": the graph of this " + r->shape.str() +
                " tensor was already released by an earlier backward(); pass {.retain_graph = true} to the first "
                "backward() to run it twice");
  if (!r->requires_grad)
    throw Error(who + ": the tensor of shape " + r->shape.str() +
                " does not require gradients (no input was marked requires_grad(true), or it was computed under "
                "NoGradGuard)");
  if (upstream.shape() != r->shape || upstream.dtype() != r->dtype)
    throw Error(who + ": upstream gradient of shape " + upstream.shape().str() + " " +
                std::string(dtype_name(upstream.dtype())) + " does not match the tensor's " + r->shape.str() + " " +
                std::string(dtype_name(r->dtype)));
  if (detail::active_trace && !tracing)
    throw Error(who + ": called while compile() records a function; compile the forward and call backward() on "
                "the compiled step's result");
  if (r->node < 0) return;
  const detail::TapeImpl& tape = detail::impl_of(*r->tape);
  if (tape.compiled() ? !tape.owned_here() : &tape != &detail::TapeImpl::current())
    throw Error(who + ": the tensor was recorded on another thread's tape; call backward() on that thread");
  using State = detail::TapeImpl::StepState;
  if (tape.compiled() && tape.step_state != State::ready) [[unlikely]] {
    if (tape.step_state == State::failed)
      throw Error(who + ": the last call of the compiled step that computed this " + r->shape.str() +
                  " tensor failed part-way, so its values mix two calls; call the step again before backward()");
    throw Error(who + ": this " + r->shape.str() +
                " tensor's compiled step already ran backward() since its last call; as for an eager graph, a second "
                "backward() needs {.retain_graph = true} on the first (or call the step again, which recomputes it)");
  }
}

// The backward engine. For backward(), leaves' gradients are added to their grad(); for
// tg::grad (`targets` set), the targets' gradients are returned in `captured` and no grad() changes.
// `tracing`: compile() runs the pass to trace it into its program (tape.step_backward is then
// not set yet).
void run_backward(const Tensor& root, Tensor upstream, BackwardOptions options, const std::vector<Tensor>* targets,
                  std::vector<Tensor>* captured, bool tracing = false) {
  check_root(root, upstream, targets ? "grad" : "backward", tracing);
  detail::TensorImpl* r = impl_of(root);
  const bool retain = options.retain_graph || options.create_graph;
  detail::GradMode mode(options.create_graph);  // backward formulas are recorded only for create_graph
  const detail::Pass pass{options.create_graph, targets, tracing, ++detail::last_pass_id};

  if (r->node < 0) {  // a leaf: its gradient is the upstream itself
    if (targets) {
      const int64_t k = detail::target_index(targets, r);
      if (k >= 0) (*captured)[static_cast<size_t>(k)] = detail::own(std::move(upstream), tracing);
    } else {
      detail::add_into(r->grad, std::move(upstream), options.create_graph);  // copied only if the caller still holds it
    }
    return;
  }
  // A compiled step's result runs on the step's own tape, whose nodes stay for the next replay.
  detail::TapeImpl& tape = detail::impl_of(*r->tape);
  if (tape.compiled() && options.create_graph)
    throw Error(std::string(targets ? "grad" : "backward") +
                ": create_graph through a compiled step is not supported; run the function eagerly for higher "
                "derivatives");
  if (tape.step_backward && !targets && !options.create_graph && !detail::anomaly_on &&
      tape.step_backward->run(root, upstream)) {
    if (!retain) tape.step_state = detail::TapeImpl::StepState::consumed;
    return;
  }
  if (tape.step_backward) tape.step_backward->sync_nodes();
  const bool keep = retain || tape.compiled();
  detail::add_into(r->grad, std::move(upstream), options.create_graph, tracing);
  const bool anomaly = detail::anomaly_on;
  const size_t root_node = static_cast<size_t>(r->node);
  std::vector<Tensor>& pending = detail::pending_leaves();
  const size_t first_leaf = pending.size();
  if (options.create_graph) tape.hold_collection(true);
  struct Hold {
    detail::TapeImpl& tape;
    bool on;
    ~Hold() {
      if (on) tape.hold_collection(false);
    }
  } hold{tape, options.create_graph};
  try {
    for (size_t i = root_node + 1; i-- > 0;) {
      {
        const detail::Node& at = tape.node(i);
        if (at.finished || !at.output) continue;
        // Joining records nodes under create_graph, which may move the tape's: before the reference below.
        if (!at.output->grad.defined()) {
          if (!at.output->grad_in_parts) continue;
          detail::join_parts(at.output);
        }
      }
      detail::Node& n = tape.node(i);
      check_versions(n, i);
      Tensor g = std::move(n.output->grad);  // a non-leaf keeps no gradient after its node ran
      n.output->grad = Tensor();
      if (targets) {
        const int64_t k = detail::target_index(targets, n.output);
        if (k >= 0) (*captured)[static_cast<size_t>(k)] = g;  // complete: every consumer ran before
      }
      if (options.create_graph) {
        // The backward records nodes, which may move the tape's: it runs on a copy of this one
        // (its inputs held, its arguments' bytes shared with the node, which outlives the pass).
        detail::Node copy = n;
        detail::BackwardContext ctx(copy, g, pass);
        copy.op->backward(ctx);
      } else {
        detail::BackwardContext ctx(n, g, pass);
        n.op->backward(ctx);
      }
      detail::Node& done = tape.node(i);
      if (anomaly) check_finite_backward(done, i);
      if (!keep) tape.release(i);
    }
    for (size_t k = first_leaf; k < pending.size(); ++k)
      if (impl_of(pending[k])->grad_in_parts) detail::join_parts(impl_of(pending[k]));
  } catch (...) {
    // Leave no half-propagated gradients behind: a later backward must not pick them up. The parts
    // first, while the pins and the pending list still hold their owners.
    detail::drop_parts(pass.id);
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
    if (targets) {
      (*captured)[static_cast<size_t>(detail::target_index(targets, t))] = std::move(t->pending);
    } else {
      detail::add_into(t->grad, std::move(t->pending), options.create_graph, tracing);
    }
    t->pending = Tensor();
  }
  pending.resize(first_leaf);
  detail::drop_parts(pass.id);  // outputs of nodes the pass did not reach, whose gradients go unread
  // As eagerly, a backward() without retain_graph uses the graph up: the step's nodes stay for its
  // next replay, but until then a second pass through them is refused.
  if (tape.compiled() && !retain) tape.step_state = detail::TapeImpl::StepState::consumed;
  if (!keep) tape.collect();
}

}  // namespace

std::vector<Tensor> detail::trace_backward(const Tensor& root, const Tensor& seed, const std::vector<Tensor>& leaves) {
  std::vector<Tensor> grads(leaves.size());
  run_backward(root, seed, {.retain_graph = true}, &leaves, &grads, true);
  return grads;
}

void Tensor::backward(BackwardOptions options) const {
  if (!defined()) throw Error("backward: the tensor is undefined");
  if (numel() != 1)
    throw Error("backward: the output has shape " + shape().str() +
                "; backward() without an upstream gradient needs a scalar (one element). Reduce it first (sum, mean) "
                "or pass backward(upstream)");
  run_backward(*this, ones(shape(), dtype()), options, nullptr, nullptr);
}

void Tensor::backward(const Tensor& upstream, BackwardOptions options) const {
  if (!upstream.defined()) throw Error("backward: the upstream gradient is undefined");
  run_backward(*this, upstream, options, nullptr, nullptr);
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const GradOptions& options) {
  if (!output.defined()) throw Error("grad: the output is undefined");
  if (inputs.empty()) throw Error("grad: no inputs: name the tensors to differentiate with respect to");
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].defined()) throw Error("grad: input " + std::to_string(k) + " is undefined");
    if (!inputs[k].requires_grad())
      throw Error("grad: input " + std::to_string(k) + ", a " + inputs[k].shape().str() +
                  " tensor, does not require gradients (mark it requires_grad(true) before computing the output)");
  }
  Tensor upstream = options.grad_output;
  if (!upstream.defined()) {
    if (output.numel() != 1)
      throw Error("grad: the output has shape " + output.shape().str() +
                  "; without a grad_output it must have one element (reduce it, or pass {.grad_output = v})");
    upstream = ones(output.shape(), output.dtype());
  }
  std::vector<Tensor> captured(inputs.size());
  if (output.requires_grad() || !options.allow_unused)
    run_backward(output, upstream, {.retain_graph = options.retain_graph, .create_graph = options.create_graph},
                 &inputs, &captured);
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (captured[k].defined()) continue;
    for (size_t j = 0; j < k; ++j)  // the same tensor twice: the engine filled its first place
      if (inputs[j].is_same(inputs[k])) captured[k] = captured[j];
    if (captured[k].defined()) continue;
    if (!options.allow_unused)
      throw Error("grad: input " + std::to_string(k) + ", a " + inputs[k].shape().str() +
                  " tensor, is not used to compute the output (pass {.allow_unused = true} to get zeros for it)");
    captured[k] = zeros(inputs[k].shape(), inputs[k].dtype());
  }
  return captured;
}

}  // namespace tapegrad
