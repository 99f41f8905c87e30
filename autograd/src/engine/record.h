#pragma once
// Private: recording one op call as a node of the thread's tape. The hot path of every op call
// that needs a gradient: inline, and no heap allocation once the tape's slots exist. The errors
// it raises and the grad-mode switch are in record.cpp.
#include <string>

#include "check/anomaly.h"
#include "engine/node.h"

namespace tapegrad::detail {

[[noreturn]] void throw_foreign_tape(const std::string& op, size_t input, const Tape* tape);
[[noreturn]] void throw_undefined_input(const char* op, size_t input);

// Records `out` as the result of `op` on `in` (recording is on and some input requires
// gradients: the caller checked), with the arguments that `make_args` constructs in the node's
// slot; returns `out`.
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
