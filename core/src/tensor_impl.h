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

// In-place writes to any buffer, counted process-wide: the tensor methods and optimizers count
// theirs (Storage::bump_in_place), and each replay of a compiled step counts one. A compiled
// step's backward checks in one load that nothing was written since its call, instead of the
// version of every value it reads.
inline std::atomic<uint64_t> in_place_writes{0};

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

  // A window of `bytes` at `offset` into `base`'s buffer (a compiled step's planned arena), holding
  // a reference to `base`; `offset` keeps the buffer's 64-byte alignment if it is a multiple of 64.
  Storage* base = nullptr;

  static Storage* create(size_t bytes);
  static Storage* window(Storage* base, size_t offset, size_t bytes);
  // A buffer of `bytes` with no elements yet (data null; a window of a shared empty base, so that
  // destroy() frees its header alone): what compile() leaves a traced value whose elements it
  // freed early, to be placed in the step's arena (or allocated) later.
  static Storage* hollow(size_t bytes);
  bool is_hollow() const;
  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  void bump(const char* writer) {
    ++version;
    last_writer = writer;
  }
  // A write outside the ops (a tensor method, an optimizer's update): also counted in in_place_writes.
  void bump_in_place(const char* writer) {
    bump(writer);
    in_place_writes.fetch_add(1, std::memory_order_relaxed);
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
  bool step_released = false;   // freed because the compiled step that recorded it was destroyed
  bool grad_in_parts = false;   // its gradient of the pass under way is held in parts (engine/backward.cpp)
  // Left to the TensorHooks in force when it was made (tensor_hooks.h); core never reads it.
  uint32_t hook_mark = 0;
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

// The elements of `t` as T*, without the dtype check of Tensor::data (kernels dispatch first).
template <class T>
inline T* ptr(const Tensor& t) {
  return static_cast<T*>(impl_of(t)->storage->data);
}

// A new tensor with fresh storage, uninitialised.
// `op` names the caller in the errors of a bad shape or a failed allocation.
Tensor make_tensor(const Shape& shape, Dtype dtype, const char* op = "tensor");
// A deep copy, not recorded (Tensor::clone() is the recorded one, defined with the ops).
Tensor copy_of(const Tensor& t);
// A new tensor sharing `storage` (which must hold enough bytes).
Tensor make_view(const Tensor& base, const Shape& shape);

[[noreturn]] void throw_not_floating(Dtype d);
// `op` takes float32 or float64 tensors: an int64 one is an error naming it and the dtype.
[[noreturn]] void throw_int64_input(const char* op, size_t input);
// `op` takes float32 or float64 tensors: a bfloat16 one is an error naming it (bfloat16 tensors
// are storage; autocast's products convert float32 operands themselves).
[[noreturn]] void throw_bf16_input(const char* op, size_t input);
inline void need_floating(const char* op, Dtype d) {
  if (d == Dtype::i64) [[unlikely]] throw_int64_input(op, 0);
  if (d == Dtype::bf16) [[unlikely]] throw_bf16_input(op, 0);
}
[[noreturn]] void throw_no_int64_value(const char* op, int64_t k, double v);
// Calls f(float{}) or f(double{}) for the dtype, so a kernel is written once as a template. An
// int64 tensor is an error here: ops refuse it by name before (Op::call), this is the backstop.
template <class F>
decltype(auto) dispatch(Dtype d, F&& f) {
  if (d == Dtype::f32) return f(float{});
  if (d != Dtype::f64) [[unlikely]] throw_not_floating(d);
  return f(double{});
}
// The same over every dtype, int64 and bfloat16 included (creation, conversion, element access,
// printing).
template <class F>
decltype(auto) dispatch_any(Dtype d, F&& f) {
  if (d == Dtype::f32) return f(float{});
  if (d == Dtype::i64) return f(int64_t{});
  if (d == Dtype::bf16) return f(bfloat16{});
  return f(double{});
}
// Converts one element to T: a float that has no int64 value (NaN, infinite, out of range) is an
// error naming `op` and the element, never a number (a C++ cast of it is undefined behaviour).
// A bfloat16 is rounded to nearest even from the source in one rounding, and read through float
// (exactly).
template <class T, class S>
inline T convert_element(S v, const char* op, int64_t k) {
  if constexpr (std::is_same_v<S, bfloat16>) {
    return convert_element<T>(static_cast<float>(v), op, k);
  } else if constexpr (std::is_same_v<T, bfloat16>) {
    if constexpr (std::is_same_v<S, float>) {
      return bfloat16(v);
    } else if constexpr (std::is_same_v<S, int64_t>) {
      // Beyond 2^53 the double rounds: make it round to odd (a correct first rounding before a
      // narrower second one), moving an inexact even result one step towards v.
      double d = static_cast<double>(v);
      const __int128 rest = static_cast<__int128>(v) - static_cast<__int128>(d);
      if (rest != 0 && !(std::bit_cast<uint64_t>(d) & 1)) d = std::nextafter(d, rest > 0 ? INFINITY : -INFINITY);
      return bfloat16(d);
    } else {
      return bfloat16(static_cast<double>(v));
    }
  } else {
  if constexpr (std::is_same_v<T, int64_t> && !std::is_same_v<S, int64_t>) {
    // 2^63 is exact in float and double; every value in [-2^63, 2^63) truncates into range.
    if (!(v >= S(-9223372036854775808.0) && v < S(9223372036854775808.0))) [[unlikely]]
      throw_no_int64_value(op, k, static_cast<double>(v));
  }
  return static_cast<T>(v);
  }
}

}  // namespace detail
}  // namespace tapegrad
