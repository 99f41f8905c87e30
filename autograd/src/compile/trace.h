#pragma once
// Private: the hooks by which compile() sees the ops a function calls. Op::call (op.h) tests one
// thread-local pointer; while it is set, each call is also appended to the compiled step.
#include <functional>

#include "tensor_hooks.h"
#include "tls.h"

namespace tapegrad::detail {

class Inputs;
class OpInfo;
struct Trace;  // compile.cpp

// The trace being recorded on this thread, or null (also null inside an op's own code).
extern TG_TLS thread_local Trace* active_trace;

// Appends the call of `op` on `in`, which gave `out`, with the arguments `make_args` constructs.
void trace_op(Trace& trace, const OpInfo& op, Inputs in, const Tensor& out,
              const std::function<void(void*)>& make_args);

// RAII: inside an op's forward, nothing is traced or checked (the forward replays as a whole).
class TraceSuspend {
 public:
  TraceSuspend() : trace_(active_trace), hooks_(nullptr) { active_trace = nullptr; }
  ~TraceSuspend() { active_trace = trace_; }
  TraceSuspend(const TraceSuspend&) = delete;
  TraceSuspend& operator=(const TraceSuspend&) = delete;

 private:
  Trace* trace_;
  HooksScope hooks_;
};

}  // namespace tapegrad::detail
