#pragma once
// Private: the one way a layer above core follows tensors as they are made, read, written and
// detached. compile() (autograd/src/compile/) installs its hooks on its thread while it records
// a function, and a compiled step's replay while it runs; core knows nothing of either, and
// eager code pays one thread-local test on each of those paths.
#include "tensor_impl.h"
#include "tls.h"

namespace tapegrad::detail {

class TensorHooks {
 public:
  // make_tensor: a tensor of this shape and dtype to hand out instead of a new one (its buffer
  // is then overwritten), or null for a new one.
  virtual TensorImpl* reuse(const Shape& shape, Dtype dtype) = 0;
  // A new tensor was made; `base` is the tensor it views, or null.
  virtual void made(TensorImpl& t, const TensorImpl* base) = 0;
  // `what` (item, at, data, to_vector) is about to read `t`'s values on the host; may refuse.
  virtual void read(const TensorImpl& t, const char* what) = 0;
  // `what` (add_, fill_, ...) is about to write a tensor in place; may refuse.
  virtual void write(const char* what) = 0;
  // `what` (randn, rand) is about to draw random numbers; may refuse.
  virtual void draw(const char* what) = 0;
  // detach() of `t`: the hooks' own result, or an undefined tensor for the plain view.
  virtual Tensor detach(const Tensor& t) = 0;

 protected:
  ~TensorHooks() = default;
};

// The hooks in force on this thread, or null (eager code, and the inside of an op's forward).
extern TG_TLS thread_local TensorHooks* tensor_hooks;

// RAII: installs `hooks` on this thread, restoring the previous ones on exit.
class HooksScope {
 public:
  explicit HooksScope(TensorHooks* hooks) : previous_(tensor_hooks) { tensor_hooks = hooks; }
  ~HooksScope() { tensor_hooks = previous_; }
  HooksScope(const HooksScope&) = delete;
  HooksScope& operator=(const HooksScope&) = delete;

 private:
  TensorHooks* previous_;
};

inline void check_read(const TensorImpl* t, const char* what) {
  if (tensor_hooks && t) [[unlikely]] tensor_hooks->read(*t, what);
}
inline void check_write(const char* what) {
  if (tensor_hooks) [[unlikely]] tensor_hooks->write(what);
}

}  // namespace tapegrad::detail
