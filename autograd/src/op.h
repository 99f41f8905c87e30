#pragma once
// Private: how a built-in op is defined. An op is written once, as an OpSpec: its name, its
// forward, its backward, its named arguments (a struct with fields) and its sample inputs.
// Op<Args> derives the rest from it: the node's op record, the replay used by per-node
// gradcheck, the registry entry, and the name in errors, reports and DOT. An op with no
// arguments uses Args = void. Example (the whole definition of tanh, beside its declaration):
//
//   static const Op<void> kTanh({.name = "tanh",
//       .forward = [](Inputs in) { return map(in[0], [](auto x) { return std::tanh(x); }); },
//       .backward = [](BackwardContext& c) { c.accumulate(0, c.grad() * (1 - square(c.output()))); },
//       .samples = {{.inputs = samples::unary(-2, 2)}}});
//   Tensor tanh(const Tensor& x) { return kTanh({x}); }
//
// The pointwise() builder of ops/pointwise.h shortens the common case of y = f(x) further.
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "anomaly_check.h"
#include "node.h"
#include "tapegrad/autograd/testing.h"
#include "trace.h"

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

// The signatures of an op's forward and backward; with Args = void they take no arguments.
template <class Args>
struct OpFunctions {
  using Forward = Tensor (*)(Inputs in, Args& args);  // may canonicalise args (a negative axis)
  using Backward = void (*)(BackwardContext& c, const Args& args);
};
template <>
struct OpFunctions<void> {
  using Forward = Tensor (*)(Inputs in);
  using Backward = void (*)(BackwardContext& c);
};
struct NoArgs {};
template <class Args>
using ArgsOrNone = std::conditional_t<std::is_void_v<Args>, NoArgs, Args>;

// One registry entry of an op: the arguments it is called with, and inputs to call it on.
template <class Args>
struct Sample {
  const char* label = "";           // what the argument set or overload is ("axis=-1, keepdim")
  ArgsOrNone<Args> args = {};
  SampleInputs inputs = {};         // inputs away from kinks, in both dtypes
  double eps = 1e-6;                // finite-difference step (larger where float32 rounding swamps it)
  std::vector<size_t> data_inputs = {};  // inputs that are data, not variables (target probabilities)
  bool zero_gradient = false;            // the gradient is zero on purpose (sign): vacuous checks accepted
  std::vector<size_t> zero_gradient_inputs = {};  // variables whose gradient is zero by construction
  // For an op with data inputs: the function that gives the node its own copy of them and calls
  // the op (softmax_cross_entropy's labels), which the registry calls in place of the op.
  Tensor (*call)(const std::vector<Tensor>& in) = nullptr;
};

// An op, as its author writes it.
template <class Args>
struct OpSpec {
  const char* name = nullptr;
  typename OpFunctions<Args>::Forward forward = nullptr;
  typename OpFunctions<Args>::Backward backward = nullptr;
  std::vector<Sample<Args>> samples = {};
  // For ops named by their arguments (user functions): the name of one call.
  const char* (*name_of)(const ArgsOrNone<Args>& args) = nullptr;
  // For ops with kinks (relu at 0, a tie of maximum): appends to `out` the input elements within
  // `eps` of one, where gradcheck's central differences straddle it (reported "inconclusive").
  void (*kinks)(Inputs in, const ArgsOrNone<Args>& args, double eps, std::vector<ElementRef>& out) = nullptr;
  // False for ops without a derivative (masks, argmax): never recorded, their results never
  // require gradients, but they are still ops, so that a compiled step replays them.
  bool recorded = true;
};

// Records `out` as the result of `op` on `in` (recording is on and some input requires
// gradients: the caller checked), with the arguments that `make_args` constructs in the node's
// slot; returns `out`.
template <class MakeArgs>
Tensor record(const OpInfo& op, Tensor out, Inputs in, MakeArgs&& make_args);

[[noreturn]] void throw_undefined_input(const char* op, size_t input);

template <class Args>
class Op final : public OpInfo {
 public:
  using A = ArgsOrNone<Args>;
  static_assert(sizeof(A) <= ArgSlot::kBytes && alignof(A) <= alignof(ArgSlot),
                "an op's arguments must fit in a node's ArgSlot");

  explicit Op(OpSpec<Args> spec) : OpInfo(spec.name, std::is_trivially_destructible_v<A>), spec_(std::move(spec)) {
    for (const Sample<Args>& s : spec_.samples) {
      std::function<Tensor(const std::vector<Tensor>&)> fn = [this, args = s.args](const std::vector<Tensor>& in) {
        return call(Inputs(in), args);
      };
      if (s.call) fn = s.call;
      register_op(OpEntry{spec_.name, s.label, std::move(fn), s.inputs, spec_.recorded, s.data_inputs, s.eps,
                          s.zero_gradient, s.zero_gradient_inputs});
    }
  }

  // Runs the forward, then records one node holding the arguments.
  Tensor operator()(Inputs in, A args = {}) const { return call(in, std::move(args)); }

  const char* name(const ArgSlot& slot) const override {
    return spec_.name_of ? spec_.name_of(*std::launder(reinterpret_cast<const A*>(slot.bytes))) : spec_.name;
  }
  void backward(BackwardContext& c) const override {
    if constexpr (std::is_void_v<Args>) spec_.backward(c);
    else spec_.backward(c, *std::launder(reinterpret_cast<const A*>(c.node().args.bytes)));
  }
  TensorFn bind(const ArgSlot& slot) const override {
    A args = *std::launder(reinterpret_cast<const A*>(slot.bytes));
    return [this, args](const std::vector<Tensor>& in) { return call(Inputs(in), args); };
  }
  std::function<std::vector<ElementRef>(double)> kinks(const InputList& inputs, const ArgSlot& slot) const override {
    if (!spec_.kinks) return {};
    A args = *std::launder(reinterpret_cast<const A*>(slot.bytes));
    return [f = spec_.kinks, in = inputs.vec(), args](double eps) {
      std::vector<ElementRef> out;
      f(Inputs(in), args, eps, out);
      return out;
    };
  }
  Tensor run(Inputs in, ArgSlot& slot) const override {
    return run_forward(in, *std::launder(reinterpret_cast<A*>(slot.bytes)));
  }
  void destroy(ArgSlot& slot) const override {
    if constexpr (!std::is_trivially_destructible_v<A>) std::launder(reinterpret_cast<A*>(slot.bytes))->~A();
  }

 private:
  Tensor call(Inputs in, A args) const {
    // One pass over the inputs, on the hot path: all defined, and does any require gradients?
    bool any = false;
    for (size_t i = 0; i < in.size(); ++i) {
      const TensorImpl* t = impl_of(in[i]);
      if (!t) [[unlikely]]
        throw_undefined_input(spec_.name_of ? spec_.name_of(args) : spec_.name, i);
      any |= t->requires_grad;
    }
    any &= spec_.recorded;
    if (active_trace) [[unlikely]] return call_traced(in, std::move(args), any);
    Tensor out = run_forward(in, args);
    if (!any || !grad_enabled) return out;
    return record(*this, std::move(out), in, [&](void* slot) { new (slot) A(std::move(args)); });
  }
  // While compile() records: the call also becomes an instruction of the compiled step, recorded
  // or not (an op on the labels alone replays too). Ops the forward calls are its own business.
  Tensor call_traced(Inputs in, A args, bool any) const {
    Trace& trace = *active_trace;
    Tensor out;
    {
      TraceSuspend inside_op;
      out = run_forward(in, args);
    }
    if (any && grad_enabled) out = record(*this, std::move(out), in, [&](void* slot) { new (slot) A(args); });
    trace_op(trace, *this, in, out, [&](void* slot) { new (slot) A(std::move(args)); });
    return out;
  }
  Tensor run_forward(Inputs in, A& args) const {
    if constexpr (std::is_void_v<Args>) return spec_.forward(in);
    else return spec_.forward(in, args);
  }

  OpSpec<Args> spec_;
};

// ---- recording (the hot path: inline, no heap allocation once the tape's slots exist) ----

[[noreturn]] void throw_foreign_tape(const std::string& op, size_t input, const Tape* tape);
[[noreturn]] void throw_undefined_input(const char* op, size_t input);

template <class MakeArgs>
Tensor record(const OpInfo& op, Tensor out, Inputs in, MakeArgs&& make_args) {
  TapeImpl& tape = TapeImpl::current();
  Node& n = tape.push();
  n.op = &op;
  make_args(static_cast<void*>(n.args.bytes));
  const size_t position = tape.size() - 1;
  for (size_t k = 0; k < in.size(); ++k) {
    const TensorImpl* t = impl_of(in[k]);
    if (t->node >= 0 && t->tape != &tape) [[unlikely]] {
      std::string name = n.name();
      tape.release(position);
      throw_foreign_tape(name, k, t->tape);
    }
  }
  if (anomaly_on) [[unlikely]] {
    try {
      check_finite_forward(n.name(), out, position);
    } catch (...) {
      tape.release(position);
      throw;
    }
  }
  n.output = impl_of(out);
  n.inputs.clear();
  for (size_t k = 0; k < in.size(); ++k) n.inputs.push_back(in[k], impl_of(in[k])->storage->version);
  n.output_version = impl_of(out)->storage->version;
  TensorImpl* o = impl_of(out);
  o->requires_grad = true;
  o->tape = &tape;
  o->node = static_cast<int64_t>(position);
  return out;
}

}  // namespace tapegrad::detail
