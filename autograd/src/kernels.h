#pragma once
// Private: elementwise loops shared by the op files. Each is a template over the element
// type and a functor, so an op's math is written once, next to its backward.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "op.h"
#include "tapegrad/autograd/ops.h"
#include "tensor_impl.h"

namespace tapegrad::detail {

// Throws unless `a` and `b` share a dtype.
inline void same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw Error(std::string(op) + ": dtypes differ: " + a.shape().str() + " " + std::string(dtype_name(a.dtype())) +
                " and " + b.shape().str() + " " + std::string(dtype_name(b.dtype())) +
                " (convert one with to(Dtype))");
}

// Throws if `t` is undefined.
inline void defined(const char* op, const Tensor& t) {
  if (!t.defined()) throw Error(std::string(op) + ": an input tensor is undefined (default-constructed)");
}

// NumPy broadcasting of two shapes; throws naming `op` when they are incompatible.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Normalises a possibly negative axis for a tensor of rank `rank`.
size_t normalize_axis(const char* op, int64_t axis, const Shape& shape);

// x viewed as [outer, n, inner] around `axis`: the lanes of length n that a reduction, a scan or
// a softmax runs along, each with stride `inner`.
struct Lanes {
  int64_t outer = 1, n = 1, inner = 1;
};
inline Lanes lanes(const Shape& s, size_t axis) {
  Lanes l;
  for (size_t d = 0; d < s.size(); ++d) {
    if (d < axis) l.outer *= s[d];
    else if (d == axis) l.n = s[d];
    else l.inner *= s[d];
  }
  return l;
}
// Calls f(offset, stride) for every lane.
template <class F>
void for_each_lane(const Lanes& l, F f) {
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t i = 0; i < l.inner; ++i) f(o * l.n * l.inner + i, l.inner);
}
// `s` without `axis`, or with it as size 1 if `keepdim`.
inline Shape reduced_shape(const Shape& s, size_t axis, bool keepdim) {
  std::vector<int64_t> out;
  for (size_t d = 0; d < s.size(); ++d) {
    if (d != axis) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return Shape(out);
}

// For a lane of n values x(0..n-1): sets m to their maximum and returns log(sum_j exp(x(j) - m)),
// the log-sum-exp relative to the maximum, which callers combine with (x(j) - m) and never with m
// itself (in float32, 1e8 + 0.69 is 1e8). The maximum's own term is exactly 1, so the result is
// log1p of the others' sum: exact to the last digit for a confident row, where log(1 + 1e-8)
// keeps only the first digits. A NaN anywhere makes it NaN.
template <class T, class X>
T log_sum_exp_rel(int64_t n, X x, T& m) {
  int64_t at = -1;
  m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; ++j)
    if (x(j) > m) m = x(j), at = j;
  if (!std::isfinite(m)) {  // all -inf, or +inf present: let IEEE arithmetic decide
    m = 0;
    T s = 0;
    for (int64_t j = 0; j < n; ++j) s += std::exp(x(j));
    return std::log(s);
  }
  T rest = 0;
  for (int64_t j = 0; j < n; ++j)
    if (j != at) rest += std::exp(x(j) - m);
  return std::log1p(rest);
}

// The sum of p[0..n), in double whatever T is, pairwise over blocks of 256 that are each summed
// in eight partial sums: float32 sums of millions of elements keep their digits (a plain float
// loop stops growing at 2^24), the error of float64 sums grows with log n instead of n, and the
// partial sums vectorize.
template <class T>
double accurate_sum(const T* p, int64_t n) {
  if (n <= 256) {
    double a[8] = {};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
      for (int j = 0; j < 8; ++j) a[j] += static_cast<double>(p[k + j]);
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; k < n; ++k) s += static_cast<double>(p[k]);
    return s;
  }
  const int64_t half = (n / 2 + 255) / 256 * 256;  // block-aligned split
  return accurate_sum(p, half) + accurate_sum(p + half, n - half);
}

// out = f(x) elementwise.
template <class F>
Tensor map(const Tensor& x, F f) {
  Tensor out = make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(x);
    T* q = ptr<T>(out);
    for (int64_t k = 0, n = x.numel(); k < n; ++k) q[k] = f(p[k]);
  });
  return out;
}

// out = f(a, b) elementwise for two tensors of the same shape and dtype.
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  Tensor out = make_tensor(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(a);
    const T* q = ptr<T>(b);
    T* r = ptr<T>(out);
    for (int64_t k = 0, n = a.numel(); k < n; ++k) r[k] = f(p[k], q[k]);
  });
  return out;
}

// out = f(a, b, c) elementwise for three tensors of the same shape and dtype.
template <class F>
Tensor zip3(const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  Tensor out = make_tensor(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(a);
    const T* q = ptr<T>(b);
    const T* u = ptr<T>(c);
    T* r = ptr<T>(out);
    for (int64_t k = 0, n = a.numel(); k < n; ++k) r[k] = f(p[k], q[k], u[k]);
  });
  return out;
}

// The input gradient of an elementwise op, b(g, x, y) for upstream g, input x and output y, in one
// loop, reading the output in place (no reference taken: this runs once per node of backward).
template <class F>
Tensor pointwise_grad(const BackwardContext& c, F f) {
  const Tensor& g = c.grad();
  const Tensor& x = c.input(0);
  Tensor out = make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gp = ptr<T>(g);
    const T* xp = ptr<T>(x);
    const T* yp = c.output_impl().template data<T>();
    T* r = ptr<T>(out);
    for (int64_t k = 0, n = x.numel(); k < n; ++k) r[k] = f(gp[k], xp[k], yp[k]);
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
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  if (sa == sb) return zip(a, b, f);
  Shape so = broadcast_shapes(op, sa, sb);
  Tensor out = make_tensor(so, a.dtype());
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(a);
    const T* q = ptr<T>(b);
    T* r = ptr<T>(out);
    const int64_t n = out.numel();
    if (b.numel() == 1 && so == sa) {
      const T s = q[0];
      for (int64_t k = 0; k < n; ++k) r[k] = f(p[k], s);
      return;
    }
    if (a.numel() == 1 && so == sb) {
      const T s = p[0];
      for (int64_t k = 0; k < n; ++k) r[k] = f(s, q[k]);
      return;
    }
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

}  // namespace tapegrad::detail
