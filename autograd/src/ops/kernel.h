#pragma once
// Private: an op call's kernel form, for compiled steps. At compile time the op plans the call it
// was traced at (shapes and dtype fixed): a function on raw pointers and the sizes it needs. A
// replay then calls it with the input and output buffers: no tensor is made, nothing allocated,
// nothing checked. The kernels run the forward's own loops and functors, element for element in
// the same order, so a replay stays bitwise the eager result.
#include <cstdint>

#include "ops/parallel.h"
#include "tapegrad/core/dtype.h"

namespace tapegrad {
struct TensorImpl;
}

namespace tapegrad::detail {

struct Kernel {
  using Run = void (*)(const Kernel& k, const void* const* in, void* out);
  Run run = nullptr;     // null: this call has no kernel form (the step replays its forward)
  int64_t size[4] = {};  // the sizes the run reads (elements; m, n, k of a product)
  double scalar = 0;     // an op's scalar argument
  bool flag[2] = {};     // transposes of a product
  // A tensor the call reads besides its inputs: the labels a loss keeps in its arguments. Read
  // through the tensor at each run (its buffer may move), not through a pointer fixed at planning.
  const TensorImpl* extra = nullptr;
  // A function planned for the call: the libxsmm kernel of a product, dispatched once.
  const void* fn = nullptr;
  // Blockable: result element i reads only element i of each input, except the inputs flagged in
  // `fixed` (bit j: input j is read whole at every i, a scalar operand or a bias row). The call
  // may then run on any block of `grain` * c elements starting at a multiple of `grain`, with
  // size[0] = c and the other inputs and the result moved to the block: a compiled program runs
  // a sequence of such calls block by block while each block sits in L1 (fusion). 0: it may not.
  int64_t grain = 0;
  uint8_t fixed = 0;
};

// The most inputs a kernel reads.
inline constexpr size_t kKernelInputs = 4;

// The run function of `Loop<T, F>` for the element type of `dtype` (f32 or f64), or null.
template <template <class, class> class Loop, class F>
Kernel::Run for_dtype(Dtype dtype) {
  if (dtype == Dtype::f32) return &Loop<float, F>::run;
  if (dtype == Dtype::f64) return &Loop<double, F>::run;
  return nullptr;
}

// The elementwise loops on pointers. The forwards (ops/loops.h) and the kernels below both run
// these, so a kernel computes its op's forward element for element.
// One thread's loops.
template <class T, class F>
inline void map_run(const T* a, T* r, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) r[i] = f(a[i]);
}
template <class T, class F>
inline void zip_run(const T* a, const T* b, T* r, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) r[i] = f(a[i], b[i]);
}
template <class T, class F>
inline void zip_scalar_b_run(const T* a, T s, T* r, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) r[i] = f(a[i], s);
}
template <class T, class F>
inline void zip_scalar_a_run(T s, const T* b, T* r, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) r[i] = f(s, b[i]);
}
template <class T, class F>
inline void zip3_run(const T* a, const T* b, const T* c, T* r, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) r[i] = f(a[i], b[i], c[i]);
}

// The same, large ones on tg::set_num_threads threads, in parts computed as the one-thread loop
// computes them (ops/parallel.h): the same bits on any number of threads. The test of the size is
// all a small op pays (a lambda around the loop on its path cost it about 25 instructions in
// callgrind's chain count).
template <class T, class F>
inline void map_loop(const T* a, T* r, int64_t n, F f) {
  if (n < kParallelElements) [[likely]] return map_run(a, r, n, f);
  split_over_threads(n, [=](int64_t lo, int64_t hi) { map_run(a + lo, r + lo, hi - lo, f); });
}
template <class T, class F>
inline void zip_loop(const T* a, const T* b, T* r, int64_t n, F f) {
  if (n < kParallelElements) [[likely]] return zip_run(a, b, r, n, f);
  split_over_threads(n, [=](int64_t lo, int64_t hi) { zip_run(a + lo, b + lo, r + lo, hi - lo, f); });
}
template <class T, class F>
inline void zip_scalar_b_loop(const T* a, T s, T* r, int64_t n, F f) {
  if (n < kParallelElements) [[likely]] return zip_scalar_b_run(a, s, r, n, f);
  split_over_threads(n, [=](int64_t lo, int64_t hi) { zip_scalar_b_run(a + lo, s, r + lo, hi - lo, f); });
}
template <class T, class F>
inline void zip_scalar_a_loop(T s, const T* b, T* r, int64_t n, F f) {
  if (n < kParallelElements) [[likely]] return zip_scalar_a_run(s, b, r, n, f);
  split_over_threads(n, [=](int64_t lo, int64_t hi) { zip_scalar_a_run(s, b + lo, r + lo, hi - lo, f); });
}
template <class T, class F>
inline void zip3_loop(const T* a, const T* b, const T* c, T* r, int64_t n, F f) {
  if (n < kParallelElements) [[likely]] return zip3_run(a, b, c, r, n, f);
  split_over_threads(n, [=](int64_t lo, int64_t hi) { zip3_run(a + lo, b + lo, c + lo, r + lo, hi - lo, f); });
}

// out[i] = f(a[i]) over size[0] elements.
template <class T, class F>
struct MapLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    map_loop(static_cast<const T*>(in[0]), static_cast<T*>(out), k.size[0], F(k));
  }
};
// out[i] = f(a[i], b[i]) over size[0] elements; with a one-element operand, f(a[i], b[0]) or f(a[0], b[i]).
template <class T, class F>
struct ZipLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    zip_loop(static_cast<const T*>(in[0]), static_cast<const T*>(in[1]), static_cast<T*>(out), k.size[0], F(k));
  }
};
template <class T, class F>
struct ZipScalarBLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    zip_scalar_b_loop(static_cast<const T*>(in[0]), static_cast<const T*>(in[1])[0], static_cast<T*>(out), k.size[0],
                      F(k));
  }
};
template <class T, class F>
struct ZipScalarALoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    zip_scalar_a_loop(static_cast<const T*>(in[0])[0], static_cast<const T*>(in[1]), static_cast<T*>(out), k.size[0],
                      F(k));
  }
};
// The same on one element (a scalar graph's every op): the loops' set-up costs more than the
// element, so a one-element call is planned to these.
template <class T, class F>
struct MapOne {
  static void run(const Kernel& k, const void* const* in, void* out) {
    *static_cast<T*>(out) = F(k)(*static_cast<const T*>(in[0]));
  }
};
template <class T, class F>
struct ZipOne {
  static void run(const Kernel& k, const void* const* in, void* out) {
    *static_cast<T*>(out) = F(k)(*static_cast<const T*>(in[0]), *static_cast<const T*>(in[1]));
  }
};
template <class T, class F>
struct Zip3One {
  static void run(const Kernel& k, const void* const* in, void* out) {
    *static_cast<T*>(out) =
        F(k)(*static_cast<const T*>(in[0]), *static_cast<const T*>(in[1]), *static_cast<const T*>(in[2]));
  }
};

// r[i, j] = f(a[i, j], b[j]) for `rows` rows of n: a bias added to every row. Large ones share out
// their rows over the threads, each row computed whole as on one thread.
template <class T, class F>
inline void zip_rows(const T* a, const T* b, T* r, int64_t rows, int64_t n, F f) {
  if (rows == 1) [[likely]] return zip_loop(a, b, r, n, f);  // one row (batch 1), or a long one: split the row
  if (rows * n < kParallelElements) [[likely]] {
    for (int64_t i = 0; i < rows; ++i, a += n, r += n) zip_run(a, b, r, n, f);
    return;
  }
  split_rows_over_threads(rows, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) zip_run(a + i * n, b, r + i * n, n, f);
  });
}
template <class T, class F>
struct ZipRowBLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    zip_rows(static_cast<const T*>(in[0]), static_cast<const T*>(in[1]), static_cast<T*>(out), k.size[0], k.size[1],
             F(k));
  }
};
// out[i] = f(a[i], b[i], c[i]).
template <class T, class F>
struct Zip3Loop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    zip3_loop(static_cast<const T*>(in[0]), static_cast<const T*>(in[1]), static_cast<const T*>(in[2]),
              static_cast<T*>(out), k.size[0], F(k));
  }
};

}  // namespace tapegrad::detail
