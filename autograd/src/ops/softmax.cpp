// softmax and log_softmax over an axis, both subtracting the maximum first so that logits of
// any magnitude give neither inf nor NaN.
#include <cmath>

#include "kernels.h"

namespace tapegrad {

using namespace detail;

namespace {
// Writes softmax (log_space = false) or log_softmax (true) of x along the lanes into out.
template <class T>
void softmax_kernel(const T* x, T* out, const Lanes& l, bool log_space) {
  for_each_lane(l, [&](int64_t off, int64_t st) {
    if (log_space) {
      T m;
      const T lse = log_sum_exp_rel<T>(l.n, [&](int64_t j) { return x[off + j * st]; }, m);
      for (int64_t j = 0; j < l.n; ++j) out[off + j * st] = (x[off + j * st] - m) - lse;
      return;
    }
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < l.n; ++j) m = std::max(m, x[off + j * st]);
    if (!std::isfinite(m)) m = 0;  // all -inf (or +inf present): let IEEE arithmetic decide
    T s = 0;
    for (int64_t j = 0; j < l.n; ++j) s += std::exp(x[off + j * st] - m);
    {
      const T inv = T(1) / s;
      for (int64_t j = 0; j < l.n; ++j) out[off + j * st] = std::exp(x[off + j * st] - m) * inv;
    }
  });
}

std::vector<OpSample> softmax_samples(Dtype d, Generator& g) {
  return {{{samples::uniform({3, 4}, -3, 3, d, g)}, "matrix"}, {{samples::uniform({2, 3, 2}, -3, 3, d, g)}, "3-D"}};
}
}  // namespace

// The axis, canonicalised by the forward.
struct Axis {
  int64_t axis;
};

// softmax (Log = false) or log_softmax (true) of the input along the axis.
template <bool Log>
Tensor forward(Inputs in, Axis& a) {
  const Tensor& x = in[0];
  const size_t ax = normalize_axis(Log ? "log_softmax" : "softmax", a.axis, x.shape());
  a.axis = static_cast<int64_t>(ax);
  Tensor out = make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T>(ptr<T>(x), ptr<T>(out), lanes(x.shape(), ax), Log);
  });
  return out;
}

// ---- softmax: dx = y * (g - sum(g * y)) along the axis ----
static const Op<Axis> kSoftmax(
    {.name = "softmax",
     .forward = forward<false>,
     .backward =
         [](BackwardContext& c, const Axis& a) {
           Tensor y = c.output();
           if (c.create_graph()) {  // the kernel below in recorded ops, so that it is differentiable again
             c.accumulate(0, y * (c.grad() - sum(c.grad() * y, a.axis, true)));
             return;
           }
           const Lanes l = lanes(y.shape(), static_cast<size_t>(a.axis));
           Tensor gx = make_tensor(y.shape(), y.dtype());
           dispatch(y.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* yp = ptr<T>(y);
             const T* g = ptr<T>(c.grad());
             T* q = ptr<T>(gx);
             for_each_lane(l, [&](int64_t off, int64_t st) {
               T dot = 0;
               for (int64_t j = 0; j < l.n; ++j) dot += g[off + j * st] * yp[off + j * st];
               for (int64_t j = 0; j < l.n; ++j)
                 q[off + j * st] = yp[off + j * st] * (g[off + j * st] - dot);
             });
           });
           c.accumulate(0, std::move(gx));
         },
     .samples = {{.label = "axis=1", .args = {1}, .inputs = softmax_samples},
                 {.label = "axis=0", .args = {0}, .inputs = softmax_samples}}});
Tensor softmax(const Tensor& x, int64_t axis) { return kSoftmax({x}, {axis}); }

// ---- log_softmax: dx = g - softmax * sum(g) along the axis ----
static const Op<Axis> kLogSoftmax(
    {.name = "log_softmax",
     .forward = forward<true>,
     .backward =
         [](BackwardContext& c, const Axis& a) {
           Tensor y = c.output();
           if (c.create_graph()) {  // the kernel below in recorded ops, so that it is differentiable again
             c.accumulate(0, c.grad() - exp(y) * sum(c.grad(), a.axis, true));
             return;
           }
           const Lanes l = lanes(y.shape(), static_cast<size_t>(a.axis));
           Tensor gx = make_tensor(y.shape(), y.dtype());
           dispatch(y.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* yp = ptr<T>(y);
             const T* g = ptr<T>(c.grad());
             T* q = ptr<T>(gx);
             for_each_lane(l, [&](int64_t off, int64_t st) {
               T s = 0;
               for (int64_t j = 0; j < l.n; ++j) s += g[off + j * st];
               for (int64_t j = 0; j < l.n; ++j)
                 q[off + j * st] = g[off + j * st] - std::exp(yp[off + j * st]) * s;
             });
           });
           c.accumulate(0, std::move(gx));
         },
     .samples = {{.label = "axis=1", .args = {1}, .inputs = softmax_samples},
                 {.label = "axis=-1", .args = {-1}, .inputs = softmax_samples}}});
Tensor log_softmax(const Tensor& x, int64_t axis) { return kLogSoftmax({x}, {axis}); }

namespace detail {
// Row-wise softmax of a [batch, classes] matrix, for the fused loss.
void softmax_rows(const Tensor& logits, Tensor& probs) {
  dispatch(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T>(ptr<T>(logits), ptr<T>(probs), Lanes{logits.shape()[0], logits.shape()[1], 1}, false);
  });
}
}  // namespace detail

}  // namespace tapegrad
