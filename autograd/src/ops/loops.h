#pragma once
// Private: elementwise loops shared by the op files. Each is a template over the element
// type and a functor, so an op's math is written once, next to its backward.
#include <cstdint>
#include <string>

#include "ops/checks.h"
#include "ops/lanes.h"
#include "ops/op.h"
#include "tapegrad/autograd/ops.h"
#include "tensor_impl.h"

namespace tapegrad::detail {

// The loops read shapes, dtypes and sizes from the TensorImpl, not through Tensor's checked
// accessors (out-of-line calls): every op's inputs were checked defined before its forward ran.

// out = f(x) elementwise.
template <class F>
Tensor map(const Tensor& x, F f) {
  Tensor out = make_tensor(impl_of(x)->shape, impl_of(x)->dtype);
  dispatch(impl_of(x)->dtype, [&](auto tag) {
    using T = decltype(tag);
    map_loop(ptr<T>(x), ptr<T>(out), impl_of(x)->numel, f);
  });
  return out;
}

// out = f(a, b) elementwise for two tensors of the same shape and dtype.
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  Tensor out = make_tensor(impl_of(a)->shape, impl_of(a)->dtype);
  dispatch(impl_of(a)->dtype, [&](auto tag) {
    using T = decltype(tag);
    zip_loop(ptr<T>(a), ptr<T>(b), ptr<T>(out), impl_of(a)->numel, f);
  });
  return out;
}

// out = f(a, b, c) elementwise for three tensors of the same shape and dtype.
template <class F>
Tensor zip3(const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  Tensor out = make_tensor(impl_of(a)->shape, impl_of(a)->dtype);
  dispatch(impl_of(a)->dtype, [&](auto tag) {
    using T = decltype(tag);
    zip3_loop(ptr<T>(a), ptr<T>(b), ptr<T>(c), ptr<T>(out), impl_of(a)->numel, f);
  });
  return out;
}

// The input gradient of an elementwise op, b(g, x, y) for upstream g, input x and output y, in one
// loop, reading the output in place (no reference taken: this runs once per node of backward).
template <class F>
Tensor pointwise_grad(const BackwardContext& c, F f) {
  const Tensor& g = c.grad();
  const Tensor& x = c.input(0);
  Tensor out = make_tensor(impl_of(x)->shape, impl_of(x)->dtype);
  dispatch(impl_of(x)->dtype, [&](auto tag) {
    using T = decltype(tag);
    zip3_loop(ptr<T>(g), ptr<T>(x), c.output_impl().template data<T>(), ptr<T>(out), impl_of(x)->numel, f);
  });
  return out;
}

// out = f(a, b) with NumPy broadcasting. Same shapes and a one-element operand take flat
// loops; other shapes walk the output with per-operand strides (0 on broadcast dimensions).
template <class F>
Tensor broadcast_zip(const char* op, const Tensor& a, const Tensor& b, F f) {
  defined(op, a);
  defined(op, b);
  same_dtype(op, a, b);
  const Shape& sa = impl_of(a)->shape;
  const Shape& sb = impl_of(b)->shape;
  if (sa == sb) return zip(a, b, f);
  Shape so = broadcast_shapes(op, sa, sb);
  Tensor out = make_tensor(so, impl_of(a)->dtype);
  dispatch(impl_of(a)->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(a);
    const T* q = ptr<T>(b);
    T* r = ptr<T>(out);
    const int64_t n = impl_of(out)->numel;
    if (impl_of(b)->numel == 1 && so == sa) return zip_scalar_b_loop(p, q[0], r, n, f);
    if (impl_of(a)->numel == 1 && so == sb) return zip_scalar_a_loop(p[0], q, r, n, f);
    if (sb.size() == 1 && so == sa && sa.back() == sb[0] && sb[0] > 0)  // a bias: b is every row
      return zip_rows(p, q, r, n / sb[0], sb[0], f);
    const size_t rank = so.size();
    int64_t stride_a[16] = {}, stride_b[16] = {}, idx[16] = {};
    if (rank > 16) throw Error(std::string(op) + ": broadcasting supports up to 16 dimensions, got " + so.str());
    int64_t st_a = 1, st_b = 1;
    for (size_t d = rank; d-- > 0;) {
      size_t da = d + sa.size() - rank, db = d + sb.size() - rank;
      bool ha = d + sa.size() >= rank, hb = d + sb.size() >= rank;
      int64_t na = ha ? sa[da] : 1, nb = hb ? sb[db] : 1;
      stride_a[d] = na == 1 ? 0 : st_a;
      stride_b[d] = nb == 1 ? 0 : st_b;
      st_a *= na;
      st_b *= nb;
    }
    if (n == 0) return;
    const int64_t inner = so[rank - 1], ia = stride_a[rank - 1], ib = stride_b[rank - 1];
    int64_t oa = 0, ob = 0;
    for (int64_t k = 0; k < n; k += inner) {
      for (int64_t j = 0; j < inner; ++j) r[k + j] = f(p[oa + j * ia], q[ob + j * ib]);
      // Advance the odometer over the outer dimensions.
      for (size_t d = rank - 1; d-- > 0;) {
        oa += stride_a[d];
        ob += stride_b[d];
        if (++idx[d] < so[d]) break;
        oa -= stride_a[d] * so[d];
        ob -= stride_b[d] * so[d];
        idx[d] = 0;
      }
    }
  });
  return out;
}

// The kernel form of broadcast_zip(a, b, F) at the call that gave `out`: the same loops for the
// same cases (equal shapes, a one-element b, a one-element a), and b one row repeated over a's
// rows (a bias), which the general walk computes element for element the same way; none for
// other broadcasts.
template <class F>
Kernel zip_plan(Inputs in, const Tensor& out) {
  const TensorImpl &a = *impl_of(in[0]), &b = *impl_of(in[1]), &o = *impl_of(out);
  Kernel k;
  k.size[0] = o.numel;
  k.grain = 1;
  if (a.shape == b.shape) {
    k.run = o.numel == 1 ? for_dtype<ZipOne, F>(o.dtype) : for_dtype<ZipLoop, F>(o.dtype);
  } else if (b.numel == 1 && o.shape == a.shape) {
    k.run = for_dtype<ZipScalarBLoop, F>(o.dtype);
    k.fixed = 2;
  } else if (a.numel == 1 && o.shape == b.shape) {
    k.run = for_dtype<ZipScalarALoop, F>(o.dtype);
    k.fixed = 1;
  } else if (b.shape.size() == 1 && a.shape.size() >= 1 && o.shape == a.shape && a.shape.back() == b.shape[0] &&
             b.numel > 0) {
    k.size[0] = o.numel / b.numel;
    k.size[1] = b.numel;
    k.run = for_dtype<ZipRowBLoop, F>(o.dtype);
    k.grain = b.numel;  // whole rows
    k.fixed = 2;
  }
  if (!k.run || k.run == for_dtype<ZipOne, F>(o.dtype)) k.grain = 0;  // a one-element kernel runs whole
  return k;
}

}  // namespace tapegrad::detail
