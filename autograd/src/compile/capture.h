#pragma once
// Private: what compile() refuses while it records the user's function (outside the ops' own
// code, which replays): whatever a replay could not reproduce. A host read of a traced tensor
// would let values steer control flow; an in-place write or a random draw would happen once, at
// compile time.
#include <cstdint>

#include "tensor_hooks.h"

namespace tapegrad::detail {

// What compile() keeps in TensorImpl::hook_mark: the compile() under way when the tensor was made
// (its serial, shifted), and whether a traced op computed it (or it is an input) in the low bit.
// A host read while compiling tells by it a constant the function made from a captured tensor.
inline bool is_traced(const TensorImpl& t) { return t.hook_mark & 1u; }
inline uint32_t made_during(const TensorImpl& t) { return t.hook_mark >> 1; }
inline void set_traced(TensorImpl& t, uint32_t serial) { t.hook_mark = serial << 1 | 1u; }
inline void mark_input(TensorImpl& t) { t.hook_mark |= 1u; }
inline void clear_traced(TensorImpl& t) { t.hook_mark &= ~1u; }

class CaptureChecks : public TensorHooks {
 public:
  // `serial` numbers this compile() (31 bits, never 0); `allow_reads` is CompileOptions'.
  CaptureChecks(uint32_t serial, bool allow_reads) : serial_(serial), allow_reads_(allow_reads) {}
  uint32_t serial() const { return serial_; }

  TensorImpl* reuse(const Shape&, Dtype) override { return nullptr; }
  void made(TensorImpl& t, const TensorImpl* base) override;
  void read(const TensorImpl& t, const char* what) override;
  void write(const char* what) override;
  void draw(const char* what) override;

 protected:
  ~CaptureChecks() = default;

 private:
  uint32_t serial_;
  bool allow_reads_;
};

}  // namespace tapegrad::detail
