// softmax and log_softmax over an axis, both subtracting the maximum first so that logits of
// any magnitude give neither inf nor NaN.
#include <cmath>

#include "tapegrad/autograd/ops/kernels.h"
#include "tapegrad/autograd/registry.h"

namespace tapegrad {

using namespace detail;

namespace {
struct Lanes {
  int64_t outer = 1, n = 1, inner = 1;
};
Lanes lanes(const Shape& s, size_t axis) {
  Lanes l;
  for (size_t d = 0; d < s.size(); ++d) {
    if (d < axis) l.outer *= s[d];
    else if (d == axis) l.n = s[d];
    else l.inner *= s[d];
  }
  return l;
}

// Calls f(offset, stride) for every lane of length l.n along the axis.
template <class F>
void for_each_lane(const Lanes& l, F f) {
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t i = 0; i < l.inner; ++i) f(o * l.n * l.inner + i, l.inner);
}

// Writes softmax (log_space = false) or log_softmax (true) of x along the lanes into out.
template <class T>
void softmax_kernel(const T* x, T* out, const Lanes& l, bool log_space) {
  for_each_lane(l, [&](int64_t off, int64_t st) {
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < l.n; ++j) m = std::max(m, x[off + j * st]);
    if (!std::isfinite(m)) m = 0;  // all -inf (or +inf present): let IEEE arithmetic decide
    T s = 0;
    for (int64_t j = 0; j < l.n; ++j) s += std::exp(x[off + j * st] - m);
    if (log_space) {
      const T lse = m + std::log(s);
      for (int64_t j = 0; j < l.n; ++j) out[off + j * st] = x[off + j * st] - lse;
    } else {
      const T inv = T(1) / s;
      for (int64_t j = 0; j < l.n; ++j) out[off + j * st] = std::exp(x[off + j * st] - m) * inv;
    }
  });
}

std::vector<OpSample> softmax_samples(Dtype d, Generator& g) {
  return {{{samples::uniform({3, 4}, -3, 3, d, g)}, "matrix"}, {{samples::uniform({2, 3, 2}, -3, 3, d, g)}, "3-D"}};
}
}  // namespace

// ---- softmax: dx = y * (g - sum(g * y)) along the axis ----
static const OpDef kSoftmax{"softmax",
                            [](BackwardContext& c) {
                              Tensor y = c.output();
                              const Lanes l = lanes(y.shape(), static_cast<size_t>(c.integer(0)));
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
                            [](const Node& n, const std::vector<Tensor>& in) { return softmax(in[0], n.args.ints[0]); }};
Tensor softmax(const Tensor& x, int64_t axis) {
  defined("softmax", x);
  const size_t ax = normalize_axis("softmax", axis, x.shape());
  Tensor out = make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T>(ptr<T>(x), ptr<T>(out), lanes(x.shape(), ax), false);
  });
  NodeArgs args;
  args.ints[0] = static_cast<int64_t>(ax);
  return record(kSoftmax, std::move(out), {x}, std::move(args));
}
static RegisterOp reg_softmax({"softmax", "axis=1", [](auto& in) { return softmax(in[0], 1); }, softmax_samples});
static RegisterOp reg_softmax0({"softmax", "axis=0", [](auto& in) { return softmax(in[0], 0); }, softmax_samples});

// ---- log_softmax: dx = g - softmax * sum(g) along the axis ----
static const OpDef kLogSoftmax{"log_softmax",
                               [](BackwardContext& c) {
                                 Tensor y = c.output();
                                 const Lanes l = lanes(y.shape(), static_cast<size_t>(c.integer(0)));
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
                               [](const Node& n, const std::vector<Tensor>& in) {
                                 return log_softmax(in[0], n.args.ints[0]);
                               }};
Tensor log_softmax(const Tensor& x, int64_t axis) {
  defined("log_softmax", x);
  const size_t ax = normalize_axis("log_softmax", axis, x.shape());
  Tensor out = make_tensor(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T>(ptr<T>(x), ptr<T>(out), lanes(x.shape(), ax), true);
  });
  NodeArgs args;
  args.ints[0] = static_cast<int64_t>(ax);
  return record(kLogSoftmax, std::move(out), {x}, std::move(args));
}
static RegisterOp reg_log_softmax({"log_softmax", "axis=1", [](auto& in) { return log_softmax(in[0], 1); },
                                   softmax_samples});
static RegisterOp reg_log_softmax_last({"log_softmax", "axis=-1", [](auto& in) { return log_softmax(in[0], -1); },
                                        softmax_samples});

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
