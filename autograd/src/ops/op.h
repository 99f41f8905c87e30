#pragma once
// Private: how a built-in op is defined. An op is written once, as an OpSpec: its name, its
// forward, its backward, its named arguments (a struct with fields) and its sample inputs.
// Op<Args> derives the rest from it: the node's op record, the replay used by per-node
// gradcheck, the registry entry, and the name in errors, reports and DOT. An op with no
// arguments uses Args = void. Example: the whole definition of sub, beside its declaration in
// ops.h (a copy of ops/elementwise.cpp's, which tools/docs/check_layout.py keeps verbatim):
//
//   static const Op<void> kSub({.name = "sub",
//       .forward = [](Inputs in) { return broadcast_zip("sub", in[0], in[1], SubF{}); },
//       .backward =
//           [](BackwardContext& c) {
//             if (c.needs_grad(1)) c.accumulate(1, neg(c.grad()));
//             c.accumulate(0, c.take_grad());
//           },
//       .samples = {{.inputs = binary_inputs()}},
//       .plan = zip_plan<SubF>});
//   Tensor sub(const Tensor& a, const Tensor& b) { return kSub({a, b}); }
//
// `.plan`, the kernel form, lets a compiled step run the call as one function on raw pointers
// (ops/kernel.h); an op without one is replayed through its forward.
// The pointwise() builder of ops/pointwise.h shortens the common case of y = f(x) further and
// makes its gradient an op of its own (kTanh in ops/elementwise.cpp); docs/contributing.md
// shows the three kinds of op.
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "compile/trace.h"
#include "engine/backward.h"
#include "engine/record.h"
#include "ops/kernel.h"
#include "tapegrad/autograd/testing.h"

namespace tapegrad::detail {

// The signatures of an op's forward and backward; with Args = void they take no arguments.
template <class Args>
struct OpFunctions {
  using Forward = Tensor (*)(Inputs in, Args& args);  // may canonicalise args (a negative axis)
  using Backward = void (*)(BackwardContext& c, const Args& args);
  using Plan = Kernel (*)(Inputs in, const Args& args, const Tensor& out);
};
template <>
struct OpFunctions<void> {
  using Forward = Tensor (*)(Inputs in);
  using Backward = void (*)(BackwardContext& c);
  using Plan = Kernel (*)(Inputs in, const Tensor& out);
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
  // The kernel form (ops/kernel.h) of a call at its inputs and result, for compiled steps: the
  // forward's loop on raw pointers. A Kernel with a null run where the call's shapes have none.
  typename OpFunctions<Args>::Plan plan = nullptr;
  // Bit i: input i may be an int64 tensor (indices, labels, a dtype conversion's source). Every
  // other input of every op must be float32 or float64: an int64 one is an error naming the op.
  uint8_t int64_inputs = 0;
  // Bit i: input i may be a bfloat16 tensor (a dtype conversion's source, a copy).
  uint8_t bf16_inputs = 0;
  // For the products that follow tg::AutocastGuard (matmul, conv2d and their gradients): sets
  // the call's arguments from the thread's autocast state (detail::record_autocast). The public
  // functions set the same flag; the registry's entry calls this, so that the checks run the op
  // under autocast as users do.
  void (*autocast)(ArgsOrNone<Args>& args) = nullptr;
};

template <class Args>
class Op final : public OpInfo {
 public:
  using A = ArgsOrNone<Args>;
  static_assert(sizeof(A) <= ArgSlot::kBytes && alignof(A) <= alignof(ArgSlot),
                "an op's arguments must fit in a node's ArgSlot");

  explicit Op(OpSpec<Args> spec) : OpInfo(spec.name, std::is_trivially_destructible_v<A>), spec_(std::move(spec)) {
    for (const Sample<Args>& s : spec_.samples) {
      std::function<Tensor(const std::vector<Tensor>&)> fn = [this, args = s.args](const std::vector<Tensor>& in) {
        A a = args;
        if (spec_.autocast) spec_.autocast(a);
        return call(Inputs(in), std::move(a));
      };
      if (s.call) fn = s.call;
      register_op(OpEntry{.name = spec_.name,
                          .variant = s.label,
                          .fn = std::move(fn),
                          .samples = s.inputs,
                          .differentiable = spec_.recorded,
                          .nondiff_inputs = s.data_inputs,
                          .eps = s.eps,
                          .zero_gradient = s.zero_gradient,
                          .zero_gradient_inputs = s.zero_gradient_inputs,
                          .autocast = spec_.autocast != nullptr});
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
  bool kernel(Inputs in, const ArgSlot& slot, const Tensor& out, Kernel& k) const override {
    if (!spec_.plan) return false;
    if constexpr (std::is_void_v<Args>) k = spec_.plan(in, out);
    else k = spec_.plan(in, *std::launder(reinterpret_cast<const A*>(slot.bytes)), out);
    return k.run != nullptr;
  }
  void destroy(ArgSlot& slot) const override {
    if constexpr (!std::is_trivially_destructible_v<A>) std::launder(reinterpret_cast<A*>(slot.bytes))->~A();
  }

 private:
  Tensor call(Inputs in, A args) const {
    // One pass over the inputs, on the hot path: all defined, and does any require gradients?
    bool any = false;
    uint8_t dtypes = 0;  // the inputs' dtypes or'ed: bit 1 is set by an int64 or a bfloat16 one
    for (size_t i = 0; i < in.size(); ++i) {
      const TensorImpl* t = impl_of(in[i]);
      if (!t) [[unlikely]]
        throw_undefined_input(spec_.name_of ? spec_.name_of(args) : spec_.name, i);
      dtypes |= static_cast<uint8_t>(t->dtype);
      any |= t->requires_grad;
    }
    static_assert(static_cast<uint8_t>(Dtype::i64) == 2 && static_cast<uint8_t>(Dtype::f64) == 1 &&
                  static_cast<uint8_t>(Dtype::bf16) == 3);
    if (dtypes & 2) [[unlikely]] check_storage_inputs(in, args);
    any &= spec_.recorded;
    if (active_trace) [[unlikely]] return call_traced(in, std::move(args), any);
    Tensor out = run_forward(in, args);
    if (!any || !grad_enabled) return out;
    return record(*this, std::move(out), in, [&](void* slot) { new (slot) A(std::move(args)); });
  }
  // An int64 or bfloat16 input where the op takes floats is an error naming the op and the input.
  [[gnu::cold]] void check_storage_inputs(Inputs in, const A& args) const {
    for (size_t i = 0; i < in.size(); ++i) {
      const Dtype d = in[i].dtype();
      if (d == Dtype::i64 && !(spec_.int64_inputs >> i & 1))
        throw_int64_input(spec_.name_of ? spec_.name_of(args) : spec_.name, i);
      if (d == Dtype::bf16 && !(spec_.bf16_inputs >> i & 1))
        throw_bf16_input(spec_.name_of ? spec_.name_of(args) : spec_.name, i);
    }
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

}  // namespace tapegrad::detail
