// Recording's out-of-line half: the grad-mode switch and the errors that record.h raises.
#include "engine/node.h"
#include "compile/trace.h"

namespace tapegrad {

namespace detail {
TG_TLS thread_local bool grad_enabled = true;

void throw_foreign_tape(const std::string& op, size_t input, const Tape* tape) {
  if (impl_of(*tape).compiled())
    throw Error(op + ": input " + std::to_string(input) +
                " is a compiled step's result (or one of its intermediates), which belongs to the step's tape; "
                "detach() it to compute on with it eagerly");
  if (active_trace && impl_of(*tape).is_this_threads())
    throw Error(op + ": input " + std::to_string(input) +
                " is a tensor the compiled function captures that was recorded eagerly on this thread before "
                "compile() ran (the output of an op, not a leaf); a compiled step cannot send gradients into that "
                "graph. Compute it inside the function, pass it as an input, or detach() it to use it as a constant");
  throw Error(op + ": input " + std::to_string(input) +
              " was recorded on another thread's tape; tapes are per thread (detach() it or compute it here)");
}
void throw_undefined_input(const char* op, size_t input) {
  throw Error(std::string(op) + ": input " + std::to_string(input) + " is undefined (default-constructed)");
}
}  // namespace detail

bool is_grad_enabled() { return detail::grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(detail::grad_enabled) { detail::grad_enabled = false; }
NoGradGuard::~NoGradGuard() { detail::grad_enabled = previous_; }

}  // namespace tapegrad
