// The refusals of compile() while it records; each message says what to write instead.
#include "compile/capture.h"

#include <string>

#include "tapegrad/core/error.h"

namespace tapegrad::detail {

// A view carries its base's serial (a view of a captured tensor is captured) but is not traced:
// made outside an op, a replay would not make it again.
void CaptureChecks::made(TensorImpl& t, const TensorImpl* base) {
  t.hook_mark = base ? base->hook_mark & ~1u : serial_ << 1;
}

// A read is frozen into the step unless the tensor is a constant the function made itself: one
// computed from the inputs, an input, or a captured tensor (made before compile()) all refuse.
void CaptureChecks::read(const TensorImpl& t, const char* what) {
  if (allow_reads_ || (!is_traced(t) && made_during(t) == serial_)) return;
  if (!is_traced(t))
    throw Error(std::string(what) + ": reads the values of a " + t.shape.str() +
                " tensor the function captures (made outside it: a parameter, a buffer, a constant) while "
                "compile() records the function; the value read would be frozen into the step, and its replays "
                "would not see a later change to the tensor (fill_, an optimizer's step). Use the tensor itself in "
                "an op (x * scale, not x * scale.item()), or pass it as an input of the step; "
                "{.allow_host_reads = true} allows the read and freezes the value");
  const bool input = made_during(t) != serial_;  // made before compile(): one of its example inputs
  throw Error(std::string(what) + ": reads the values of " +
              (input ? "an input of the function (a " + t.shape.str() + " tensor)"
                     : "a " + t.shape.str() + " tensor computed from the inputs") +
              " while compile() records the function; a compiled step replays the same ops whatever the values, so "
              "values cannot steer it. Move the read out of the function, or pass {.allow_host_reads = true} if "
              "the function is branch-free");
}

void CaptureChecks::write(const char* what) {
  throw Error(std::string(what) + ": an in-place write while compile() records the function would happen once, "
              "not at each replay; write out of place (an op), or outside the compiled function");
}

void CaptureChecks::draw(const char* what) {
  throw Error(std::string(what) + ": random numbers drawn while compile() records the function would be the same at "
              "every replay; draw them outside the function and pass them as an input");
}

}  // namespace tapegrad::detail
