#pragma once
// Private to the library: the objects behind a Tensor handle, which every module's kernels use.
#include <atomic>
#include <cstdint>
#include <string>

#include "tapegrad/core/tensor.h"
#include "tls.h"

namespace tapegrad {
class Tape;
namespace detail {
// The names optimizers write under (Storage::last_writer), registered by each optimizer, so that
// a version error can tell a step() before backward() from an in-place tensor method without a
// flag written on every in-place write.
void register_step_writer(const char* name);
bool is_step_writer(const char* name);

// Bytes from the per-thread caching pool; freed back to it (see storage.cpp).
void pool_init();  // constructs this thread's cache early, so it outlives the thread's tape
void* pool_alloc(size_t bytes);
void pool_free(void* p, size_t bytes);

// Refcounted element buffer, shared by tensors that alias it (reshape, detach).
struct Storage {
  std::atomic<int32_t> refs{1};
  uint32_t version = 0;             // bumped by every in-place write
  const char* last_writer = nullptr;  // name of the last in-place op, for error messages
  size_t bytes = 0;
  void* data = nullptr;
  // The buffer has a label (the place of a module parameter, "Sequential[2].bias", for errors),
  // kept in a side table so that the other buffers pay one byte for it. Written under the table's
  // lock by a holder of the buffer, so never while the last reference is being dropped.
  bool labelled = false;

  static Storage* create(size_t bytes);
  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  void bump(const char* writer) {
    ++version;
    last_writer = writer;
  }
  // Labels the buffer once; later labels (the same tensor reached from another module) are ignored.
  void set_label(const std::string& name);
  // Whether it has a label, read without the table's lock.
  bool has_label() const { return std::atomic_ref<bool>(const_cast<bool&>(labelled)).load(std::memory_order_acquire); }
  // The label, or "" if there is none.
  std::string label() const;

 private:
  void destroy();
};

}  // namespace detail

// The object a Tensor handle points to: shape, dtype, storage, and the autograd links (the
// gradient, and the tape node that produced it), like PyTorch's TensorImpl with AutogradMeta.
struct TensorImpl {
  std::atomic<int32_t> refs{1};
  Dtype dtype = Dtype::f32;
  bool requires_grad = false;   // a marked leaf, or the output of a recorded node
  bool graph_released = false;  // its node was freed (by backward(), or by the tape at thread exit)
  bool tape_exited = false;     // freed because the recording thread ended, not by a backward()
  bool traced = false;          // computed from a compiled function's inputs, while compile() runs it
  bool step_released = false;   // freed because the compiled step that recorded it was destroyed
  // The compile() under way on this thread when it was made (detail::compile_serial; 0 outside
  // one): a host read while compiling tells a constant the function made from a tensor it captured.
  uint32_t born = 0;
  Shape shape;
  int64_t numel = 0;
  detail::Storage* storage = nullptr;
  Tensor grad;
  Tensor pending;  // a leaf's gradient from the backward pass under way, added to grad once at its end
  Tape* tape = nullptr;  // the tape holding the node that produced this tensor
  int64_t node = -1;     // index of that node, or -1 for a leaf / a released node

  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl();

  // Pooled per thread: creating a tensor on the hot path does not call malloc.
  static void* operator new(size_t bytes);
  static void operator delete(void* p);

  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  template <class T>
  T* data() const { return static_cast<T*>(storage->data); }
};

inline TensorImpl* impl_of(const Tensor& t) noexcept { return t.impl_; }
// Wraps `impl`, taking over one reference.
inline Tensor adopt(TensorImpl* impl) noexcept {
  Tensor t;
  t.impl_ = impl;
  return t;
}

namespace detail {
using ::tapegrad::TensorImpl;

// While compile() runs the user's function (outside the ops' own code, which replays): what a
// replay could not reproduce is an error. Reads to the host of a traced tensor would let values
// steer control flow; in-place writes and random draws would happen once, at compile time.
enum CaptureCheck : uint8_t { kCheckReads = 1, kCheckWrites = 2, kTracing = 4 };
extern TG_TLS thread_local uint8_t capture_checks;
// Numbers the compile() under way on this thread (0 when none); tensors made meanwhile carry it.
extern TG_TLS thread_local uint32_t compile_serial;
// detach() of a traced tensor while compiling: traced too (a view the replay makes again), so
// that a copy the library keeps of it (an op's labels) follows each replay. Set by autograd.
extern Tensor (*traced_detach)(const Tensor& t);
[[noreturn]] void throw_captured_read(const char* what, const TensorImpl& t);
[[noreturn]] void throw_captured_write(const char* what);
// A read is frozen into the step unless the tensor is a constant the function made itself: one
// computed from the inputs, an input, or a captured tensor (made before compile()) all refuse.
inline void check_read(const TensorImpl* t, const char* what) {
  if ((capture_checks & kCheckReads) && t && (t->traced || t->born != compile_serial)) [[unlikely]]
    throw_captured_read(what, *t);
}
inline void check_write(const char* what) {
  if (capture_checks & kCheckWrites) [[unlikely]] throw_captured_write(what);
}


// The elements of `t` as T*, without the dtype check of Tensor::data (kernels dispatch first).
template <class T>
inline T* ptr(const Tensor& t) {
  return static_cast<T*>(impl_of(t)->storage->data);
}

// A compiled step's replay offers the tensor an op is about to recompute: the first make_tensor
// of its shape and dtype returns it (its buffer is overwritten in place) instead of allocating,
// and sets `recycled`. The replay checks that the op returned it, and runs the op again
// without the offer if the op used it for something else.
extern TG_TLS thread_local TensorImpl* recycle_slot;
extern TG_TLS thread_local bool recycled;

// A new tensor with fresh storage, uninitialised.
// `op` names the caller in the errors of a bad shape or a failed allocation.
Tensor make_tensor(const Shape& shape, Dtype dtype, const char* op = "tensor");
// A deep copy, not recorded (Tensor::clone() is the recorded one, defined with the ops).
Tensor copy_of(const Tensor& t);
// A new tensor sharing `storage` (which must hold enough bytes).
Tensor make_view(const Tensor& base, const Shape& shape);

// Calls f(float{}) or f(double{}) for the dtype, so a kernel is written once as a template.
template <class F>
decltype(auto) dispatch(Dtype d, F&& f) {
  if (d == Dtype::f32) return f(float{});
  return f(double{});
}

}  // namespace detail
}  // namespace tapegrad
