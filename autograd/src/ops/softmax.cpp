// softmax and log_softmax over an axis, both subtracting the maximum first so that logits of
// any magnitude give neither inf nor NaN.
#include <cmath>

#include "ops/loops.h"

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

namespace {
// The backward ops' (g, y) inputs, checked: one shape and one dtype, as the forward gives them.
size_t check_grad_inputs(const char* op, Inputs in, Axis& a) {
  same_dtype(op, in[0], in[1]);
  if (in[0].shape() != in[1].shape())
    throw Error(std::string(op) + ": grad " + in[0].shape().str() + " and output " + in[1].shape().str() +
                " must have one shape");
  const size_t ax = normalize_axis(op, a.axis, in[1].shape());
  a.axis = static_cast<int64_t>(ax);
  return ax;
}

// The backward ops' samples: an upstream g and the forward's output y on the forward's samples.
template <bool Log>
std::vector<OpSample> grad_samples(Dtype d, Generator& g, int64_t axis) {
  std::vector<OpSample> out = softmax_samples(d, g);
  for (OpSample& s : out) {
    const Tensor x = s.inputs[0];
    s.inputs = {samples::normal(x.shape(), d, g), Log ? log_softmax(x, axis) : softmax(x, axis)};
  }
  return out;
}
}  // namespace

// ---- softmax_backward(g, y) = y * (g - sum(g * y)) along the axis: softmax's input gradient ----
// Linear in g with the symmetric Jacobian diag(y) - y y^T, so its g-gradient is itself; its
// y-gradient for an upstream gg is gg (g - sum(g y)) - g sum(gg y).
static const Op<Axis> kSoftmaxBackward(
    {.name = "softmax_backward",
     .forward =
         [](Inputs in, Axis& a) {
           const size_t ax = check_grad_inputs("softmax_backward", in, a);
           const Tensor &grad = in[0], &y = in[1];
           const Lanes l = lanes(y.shape(), ax);
           Tensor gx = make_tensor(y.shape(), y.dtype());
           dispatch(y.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* yp = ptr<T>(y);
             const T* g = ptr<T>(grad);
             T* q = ptr<T>(gx);
             for_each_lane(l, [&](int64_t off, int64_t st) {
               T dot = 0;
               for (int64_t j = 0; j < l.n; ++j) dot += g[off + j * st] * yp[off + j * st];
               for (int64_t j = 0; j < l.n; ++j) q[off + j * st] = yp[off + j * st] * (g[off + j * st] - dot);
             });
           });
           return gx;
         },
     .backward =
         [](BackwardContext& c, const Axis& a) {
           const Tensor &g = c.input(0), &y = c.input(1), &gg = c.grad();
           if (c.needs_grad(0)) c.accumulate(0, kSoftmaxBackward({gg, y}, {a.axis}));
           if (c.needs_grad(1))
             c.accumulate(1, gg * (g - sum(g * y, a.axis, true)) - sum(gg * y, a.axis, true) * g);
         },
     .samples = {{.label = "axis=1", .args = {1}, .inputs = [](Dtype d, Generator& g) { return grad_samples<false>(d, g, 1); }},
                 {.label = "axis=0", .args = {0}, .inputs = [](Dtype d, Generator& g) { return grad_samples<false>(d, g, 0); }}}});

// ---- softmax ----
static const Op<Axis> kSoftmax(
    {.name = "softmax",
     .forward = forward<false>,
     .backward =
         [](BackwardContext& c, const Axis& a) {
           const Tensor y = c.output();
           c.accumulate(0, kSoftmaxBackward({c.grad(), y}, {a.axis}));
         },
     .samples = {{.label = "axis=1", .args = {1}, .inputs = softmax_samples},
                 {.label = "axis=0", .args = {0}, .inputs = softmax_samples}}});
Tensor softmax(const Tensor& x, int64_t axis) { return kSoftmax({x}, {axis}); }

// ---- log_softmax_backward(g, y) = g - exp(y) sum(g) along the axis: log_softmax's input gradient ----
// Linear in g; its transpose gives the g-gradient gg - sum(gg exp(y)), and the y-gradient is
// -gg exp(y) sum(g).
static const Op<Axis> kLogSoftmaxBackward(
    {.name = "log_softmax_backward",
     .forward =
         [](Inputs in, Axis& a) {
           const size_t ax = check_grad_inputs("log_softmax_backward", in, a);
           const Tensor &grad = in[0], &y = in[1];
           const Lanes l = lanes(y.shape(), ax);
           Tensor gx = make_tensor(y.shape(), y.dtype());
           dispatch(y.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* yp = ptr<T>(y);
             const T* g = ptr<T>(grad);
             T* q = ptr<T>(gx);
             for_each_lane(l, [&](int64_t off, int64_t st) {
               T s = 0;
               for (int64_t j = 0; j < l.n; ++j) s += g[off + j * st];
               for (int64_t j = 0; j < l.n; ++j) q[off + j * st] = g[off + j * st] - std::exp(yp[off + j * st]) * s;
             });
           });
           return gx;
         },
     .backward =
         [](BackwardContext& c, const Axis& a) {
           const Tensor &g = c.input(0), &y = c.input(1), &gg = c.grad();
           const Tensor p = exp(y);
           if (c.needs_grad(0)) c.accumulate(0, gg - sum(gg * p, a.axis, true));
           if (c.needs_grad(1)) c.accumulate(1, -(gg * p * sum(g, a.axis, true)));
         },
     .samples = {{.label = "axis=1", .args = {1}, .inputs = [](Dtype d, Generator& g) { return grad_samples<true>(d, g, 1); }},
                 {.label = "axis=-1", .args = {-1}, .inputs = [](Dtype d, Generator& g) { return grad_samples<true>(d, g, -1); }}}});

// ---- log_softmax ----
static const Op<Axis> kLogSoftmax(
    {.name = "log_softmax",
     .forward = forward<true>,
     .backward =
         [](BackwardContext& c, const Axis& a) {
           const Tensor y = c.output();
           c.accumulate(0, kLogSoftmaxBackward({c.grad(), y}, {a.axis}));
         },
     .samples = {{.label = "axis=1", .args = {1}, .inputs = softmax_samples},
                 {.label = "axis=-1", .args = {-1}, .inputs = softmax_samples}}});
Tensor log_softmax(const Tensor& x, int64_t axis) { return kLogSoftmax({x}, {axis}); }

namespace detail {
// softmax_backward(g, y) along `axis`, the op, for the loss's double backward.
Tensor softmax_backward(const Tensor& g, const Tensor& y, int64_t axis) { return kSoftmaxBackward({g, y}, {axis}); }

// Row-wise softmax of a [batch, classes] matrix, for the fused loss.
void softmax_rows(const float* logits, float* probs, int64_t batch, int64_t classes) {
  softmax_kernel<float>(logits, probs, Lanes{batch, classes, 1}, false);
}
void softmax_rows(const double* logits, double* probs, int64_t batch, int64_t classes) {
  softmax_kernel<double>(logits, probs, Lanes{batch, classes, 1}, false);
}
}  // namespace detail

}  // namespace tapegrad
