#pragma once
// Private: a tensor seen as lanes along one axis (what reductions, scans and softmax run along),
// and the two sums over a lane that must keep their digits: log-sum-exp and the float sum.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad::detail {

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

}  // namespace tapegrad::detail
