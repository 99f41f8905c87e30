// Reductions built for statistics: logsumexp, var and std (with a settable correction), and the
// 2-norm. Each forward beside its backward op (logsumexp_backward, var_backward, std_backward,
// norm_backward): the fused kernel of its gradient, registered, with a backward of its own.
#include <algorithm>
#include <cmath>

#include "ops/axis.h"

namespace tapegrad {

using namespace detail;


namespace {
// The samples of a reduction's backward op: g normal in the reduced shape, x from the forward's
// samples, and (with `y`) the forward's output.
SampleInputs backward_inputs(SampleInputs forward, size_t axis, bool keepdim, Tensor (*y)(const Tensor& x) = nullptr) {
  return [forward, axis, keepdim, y](Dtype d, Generator& g) {
    std::vector<OpSample> out = forward(d, g);
    for (OpSample& s : out) {
      const Tensor x = s.inputs[0];
      s.inputs = {samples::normal(reduced_shape(x.shape(), axis, keepdim), d, g), x};
      if (y) s.inputs.push_back(y(x));
    }
    return out;
  };
}
// Throws unless the backward op's upstream `g` (and the output `y`) have the shape of x reduced.
void check_reduced(const char* op, Inputs in, size_t ax, bool keepdim) {
  const Tensor& x = in[1];
  const char* names[] = {"grad", "x", "output"};
  for (size_t i = 0; i < in.size(); ++i) {
    same_dtype(op, x, in[i]);
    if (i != 1 && !is_reduced_shape(in[i].shape(), x.shape(), ax, keepdim))
      throw Error(std::string(op) + ": " + names[i] + " has shape " + in[i].shape().str() + ", expected " +
                  reduced_shape(x.shape(), ax, keepdim).str() + " for x " + x.shape().str() + " reduced over axis " +
                  std::to_string(ax));
  }
}
}  // namespace

// ---- logsumexp: log(sum(exp(x))) over an axis, relative to the maximum (no overflow); the
// gradient is softmax(x) = exp(x - y) ----

// logsumexp_backward(g, x, y): exp(x - y) g, y = logsumexp(x) and g its upstream (both reduced).
static const Op<AxisArgs> kLogsumexpBackward(
    {.name = "logsumexp_backward",
     .forward =
         [](Inputs in, AxisArgs& a) {
           const Tensor &gy = in[0], &x = in[1], &y = in[2];
           const size_t ax = normalize_axis("logsumexp_backward", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           check_reduced("logsumexp_backward", in, ax, a.keepdim);
           const Lanes l = lanes(x.shape(), ax);
           Tensor gx = make_tensor(x.shape(), x.dtype(), "logsumexp_backward");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T *p = ptr<T>(x), *lse = ptr<T>(y), *g = ptr<T>(gy);
             T* q = ptr<T>(gx);
             int64_t k = 0;
             for_each_lane(l, [&](int64_t off, int64_t st) {
               for (int64_t j = 0; j < l.n; ++j) {
                 const T soft = std::exp(p[off + j * st] - lse[k]);
                 q[off + j * st] = soft * g[k];
               }
               ++k;
             });
           });
           return gx;
         },
     // With s = exp(x - y): the output is s g; d/dg = sum(gg s), d/dx = gg s g, d/dy = -sum(gg s g).
     .backward =
         [](BackwardContext& c, const AxisArgs& a) {
           const Tensor& x = c.input(1);
           const std::vector<int64_t> kept = reduced_shape(x.shape(), static_cast<size_t>(a.axis), true).vec();
           const Tensor soft = exp(x - reshape(c.input(2), kept));
           const Tensor gs = c.grad() * soft;
           if (c.needs_grad(0)) c.accumulate(0, sum(gs, a.axis, a.keepdim));
           if (!c.needs_grad(1) && !c.needs_grad(2)) return;
           const Tensor gsg = gs * reshape(c.input(0), kept);
           if (c.needs_grad(1)) c.accumulate(1, gsg);
           if (c.needs_grad(2)) c.accumulate(2, -sum(gsg, a.axis, a.keepdim));
         },
     .samples = {{.label = "axis=1",
                  .args = {1, false},
                  .inputs = backward_inputs(reduce_inputs(), 1, false, [](const Tensor& x) { return logsumexp(x, 1); })},
                 {.label = "axis=0, keepdim",
                  .args = {0, true},
                  .inputs = backward_inputs(reduce_inputs(), 0, true,
                                            [](const Tensor& x) { return logsumexp(x, 0, true); })}}});

static const Op<AxisArgs> kLogsumexp(
    {.name = "logsumexp",
     .forward =
         [](Inputs in, AxisArgs& a) {
           const Tensor& x = in[0];
           const size_t ax = normalize_axis("logsumexp", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           const Lanes l = lanes(x.shape(), ax);
           if (l.n == 0) throw Error("logsumexp: axis " + std::to_string(ax) + " of " + x.shape().str() + " is empty");
           Tensor out = make_tensor(reduced_shape(x.shape(), ax, a.keepdim), x.dtype(), "logsumexp");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             T* q = ptr<T>(out);
             int64_t k = 0;
             for_each_lane(l, [&](int64_t off, int64_t st) {
               T m;
               const T rel = log_sum_exp_rel<T>(l.n, [&](int64_t j) { return p[off + j * st]; }, m);
               q[k++] = m + rel;
             });
           });
           return out;
         },
     .backward =
         [](BackwardContext& c, const AxisArgs& a) {
           const Tensor y = c.output();
           c.accumulate(0, kLogsumexpBackward({c.grad(), c.input(0), y}, a));
         },
     .samples = {{.label = "axis=1", .args = {1, false}, .inputs = reduce_inputs()},
                 {.label = "axis=0, keepdim", .args = {0, true}, .inputs = reduce_inputs()}}});
Tensor logsumexp(const Tensor& x, int64_t axis, bool keepdim) { return kLogsumexp({x}, {axis, keepdim}); }

// ---- var and std: the sum of squared deviations from the mean, divided by n - correction (1:
// Bessel's correction, the unbiased sample variance, as PyTorch's default; 0: the population
// variance), and its square root. One node each, named as called. std is not sqrt of var: where a
// lane is constant, sqrt's infinite slope at 0 times var's zero gradient is NaN, and that NaN would
// reach every weight upstream. Their backwards: var 2 (x - mean) g / (n - correction); std
// (x - mean) g / ((n - correction) y), and 0 where y = 0, as PyTorch's std_backward ----
struct SpreadArgs {
  int64_t axis;
  bool keepdim;
  int64_t correction;
};
namespace {
// Calls f(off, st, k, mean) for lane k of x along `l` (its elements at off + j st), with the
// lane's mean computed in double.
template <class T, class F>
void each_lane_with_mean(const T* p, const Lanes& l, F f) {
  int64_t k = 0;
  for_each_lane(l, [&](int64_t off, int64_t st) {
    double m = 0;
    for (int64_t j = 0; j < l.n; ++j) m += static_cast<double>(p[off + j * st]);
    f(off, st, k++, m / static_cast<double>(l.n));
  });
}

// var_backward(g, x) = 2 (x - mean) g / (n - correction); std_backward(g, x, y) =
// (x - mean) g / ((n - correction) y), and g * 0 where y = 0 (so that an upstream NaN stays NaN).
template <bool Std>
OpSpec<SpreadArgs> spread_backward_spec() {
  return {
      .name = Std ? "std_backward" : "var_backward",
      .forward =
          [](Inputs in, SpreadArgs& a) {
            const char* op = Std ? "std_backward" : "var_backward";
            const Tensor &gy = in[0], &x = in[1];
            const size_t ax = normalize_axis(op, a.axis, x.shape());
            a.axis = static_cast<int64_t>(ax);
            check_reduced(op, in, ax, a.keepdim);
            const double divisor = static_cast<double>(x.shape()[ax] - a.correction);
            const Lanes l = lanes(x.shape(), ax);
            Tensor gx = make_tensor(x.shape(), x.dtype(), op);
            dispatch(x.dtype(), [&](auto tag) {
              using T = decltype(tag);
              const T* p = ptr<T>(x);
              const T* y = Std ? ptr<T>(in[2]) : nullptr;
              const T* g = ptr<T>(gy);
              T* q = ptr<T>(gx);
              each_lane_with_mean(p, l, [&](int64_t off, int64_t st, int64_t k, double m) {
                const double gk = static_cast<double>(g[k]);
                const double f = !Std ? 2 * gk / divisor
                                      : (y[k] != 0 ? gk / (divisor * static_cast<double>(y[k])) : gk * 0.0);
                for (int64_t j = 0; j < l.n; ++j)
                  q[off + j * st] = static_cast<T>((static_cast<double>(p[off + j * st]) - m) * f);
              });
            });
            return gx;
          },
      // The output is d f, d = x - mean(x) and f the per-lane factor (g 2 / divisor; for std
      // g / (divisor y) where y != 0, else 0). d/dg = sum(gg d) f / g; d/dx = t - mean(t) with
      // t = gg f (the mean's share); d/dy = -sum(gg d) f / y. For std, a where on data (y != 0)
      // keeps 0 / 0 out of the graph, that a later derivative would multiply by zero.
      .backward =
          [](BackwardContext& c, const SpreadArgs& a) {
            const Tensor& x = c.input(1);
            const size_t ax = static_cast<size_t>(a.axis);
            const double divisor = static_cast<double>(x.shape()[ax] - a.correction);
            const std::vector<int64_t> kept = reduced_shape(x.shape(), ax, true).vec();
            const std::vector<int64_t> reduced = c.input(0).shape().vec();
            const Tensor g = reshape(c.input(0), kept), gg = c.grad();
            const Tensor deviation = x - mean(x, a.axis, true);
            Tensor per_unit;  // f / g: what the output is, per unit of upstream
            Tensor safe_y;  // y, with 1 where y = 0
            if constexpr (!Std) {
              per_unit = full(Shape{}, 2.0 / divisor, x.dtype());
            } else {
              const Tensor y = reshape(c.input(2), kept);
              const Tensor live = map(y, [](auto v) { return v != 0 ? decltype(v)(1) : decltype(v)(0); });
              safe_y = where(live, y, full(Shape{}, 1.0, x.dtype()));
              per_unit = where(live, 1.0 / (safe_y * divisor), zeros(Shape{}, x.dtype()));
            }
            const bool dg = c.needs_grad(0), dy = Std && c.inputs() == 3 && c.needs_grad(2);
            if (dg || dy) {
              const Tensor sgd = sum(gg * deviation, a.axis, true);
              if (dg) c.accumulate(0, reshape(sgd * per_unit, reduced));
              if constexpr (Std) {
                if (dy) c.accumulate(2, reshape(-(sgd * g * per_unit / safe_y), reduced));
              }
            }
            if (c.needs_grad(1)) {
              const Tensor t = gg * (g * per_unit);
              c.accumulate(1, t - mean(t, a.axis, true));
            }
          },
      .samples = {{.label = "axis=1",
                   .args = {1, false, 1},
                   .inputs = backward_inputs(reduce_inputs(), 1, false,
                                             Std ? +[](const Tensor& x) { return std(x, 1, false, 1); } : nullptr)},
                  {.label = "axis=0, keepdim, correction=0",
                   .args = {0, true, 0},
                   .inputs = backward_inputs(reduce_inputs(), 0, true,
                                             Std ? +[](const Tensor& x) { return std(x, 0, true, 0); } : nullptr)}}};
}
}  // namespace
static const Op<SpreadArgs> kVarBackward(spread_backward_spec<false>());
static const Op<SpreadArgs> kStdBackward(spread_backward_spec<true>());
namespace {
template <bool Std>
const Op<SpreadArgs>& spread_backward() {
  return Std ? kStdBackward : kVarBackward;
}

template <bool Std>
OpSpec<SpreadArgs> spread_spec() {
  return {
      .name = Std ? "std" : "var",
      .forward =
          [](Inputs in, SpreadArgs& a) {
            const char* op = Std ? "std" : "var";
            const Tensor& x = in[0];
            const size_t ax = normalize_axis(op, a.axis, x.shape());
            const int64_t n = x.shape()[ax];
            if (a.correction < 0 || n - a.correction <= 0)
              throw Error(std::string(op) + ": axis " + std::to_string(a.axis) + " of " + x.shape().str() + " has " +
                          std::to_string(n) + " element(s), and a correction of " + std::to_string(a.correction) +
                          " needs more (n - correction must be > 0, and the correction >= 0)");
            a.axis = static_cast<int64_t>(ax);
            const Lanes l = lanes(x.shape(), ax);
            Tensor out = make_tensor(reduced_shape(x.shape(), ax, a.keepdim), x.dtype(), op);
            const double divisor = static_cast<double>(n - a.correction);
            dispatch(x.dtype(), [&](auto tag) {
              using T = decltype(tag);
              const T* p = ptr<T>(x);
              T* q = ptr<T>(out);
              // The mean first, then the deviations from it, in double: no cancellation.
              each_lane_with_mean(p, l, [&](int64_t off, int64_t st, int64_t k, double m) {
                double ss = 0;
                for (int64_t j = 0; j < l.n; ++j) {
                  const double d = static_cast<double>(p[off + j * st]) - m;
                  ss += d * d;
                }
                q[k] = static_cast<T>(Std ? std::sqrt(ss / divisor) : ss / divisor);
              });
            });
            return out;
          },
      .backward =
          [](BackwardContext& c, const SpreadArgs& a) {
            if constexpr (Std) {
              const Tensor y = c.output();
              c.accumulate(0, spread_backward<true>()({c.grad(), c.input(0), y}, a));
            } else {
              c.accumulate(0, spread_backward<false>()({c.grad(), c.input(0)}, a));
            }
          },
      .samples = {{.label = "axis=1", .args = {1, false, 1}, .inputs = reduce_inputs()},
                  {.label = "axis=0, keepdim, correction=0", .args = {0, true, 0}, .inputs = reduce_inputs()}}};
}
}  // namespace

static const Op<SpreadArgs> kVar(spread_spec<false>());
static const Op<SpreadArgs> kStd(spread_spec<true>());
Tensor var(const Tensor& x, int64_t axis, bool keepdim, int64_t correction) {
  defined("var", x);
  return kVar({x}, {axis, keepdim, correction});
}
Tensor std(const Tensor& x, int64_t axis, bool keepdim, int64_t correction) {
  defined("std", x);
  return kStd({x}, {axis, keepdim, correction});
}

// ---- norm: the 2-norm of all elements, scaled by the largest |x| so that neither squares of
// large values overflow nor those of small ones underflow; the gradient x / y, and 0 at y = 0
// (the subgradient PyTorch uses) ----
// norm_backward(g, y, x) = x g / y, y = norm(x) and g its upstream (both rank 0, so first: a
// wrong shape is then always seen), and g * 0 at y = 0.
static const Op<void> kNormBackward(
    {.name = "norm_backward",
     .forward =
         [](Inputs in) {
           const Tensor &gy = in[0], &yt = in[1], &x = in[2];
           for (size_t i : {0, 1}) {
             same_dtype("norm_backward", x, in[i]);
             if (in[i].dim() != 0)
               throw Error(std::string("norm_backward: ") + (i == 0 ? "grad" : "output") + " has shape " +
                           in[i].shape().str() + ", expected [] (the norm of x " + x.shape().str() + " is a scalar)");
           }
           const double y = yt.item();
           Tensor out;
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T g = ptr<T>(gy)[0], yv = static_cast<T>(y);
             // At y = 0, g * 0 rather than 0: an upstream NaN stays NaN (x is all zeros there).
             const T per_unit = y == 0 ? g * T(0) : g / yv;
             // x times g / y, one multiply an element, unless g / y overflows (a subnormal y): then
             // x / y, at most 1, times g (the forward scales for the same reason).
             if (std::isfinite(per_unit) || !std::isfinite(g) || !std::isfinite(yv))
               out = map(x, [per_unit](auto v) { return static_cast<decltype(v)>(v * per_unit); });
             else
               out = map(x, [g, yv](auto v) { return static_cast<decltype(v)>(v / yv * g); });
           });
           return out;
         },
     // For y != 0: d/dg = sum(gg x) / y, d/dx = gg g / y, d/dy = -sum(gg x) g / y^2. At y = 0 the
     // gradient is 0, but the norm has no second derivative there (its Hessian (I - x x^T / y^2) / y
     // grows without bound near 0): the output is taken as x (g 0 + sqrt(y) 0), 0 in value, whose
     // derivative in y is 0 * inf = NaN, so that a second derivative taken through this point is
     // NaN, as libtorch's, not a finite value that is right for no function of the norm
     // (docs/higher-order.md).
     .backward =
         [](BackwardContext& c) {
           const Tensor &g = c.input(0), &y = c.input(1), &x = c.input(2), &gg = c.grad();
           const bool zero = y.item() == 0;
           if (c.needs_grad(2)) c.accumulate(2, zero ? gg * (g * 0.0 + sqrt(y) * 0.0) : gg * (g / y));
           if (!c.needs_grad(0) && !c.needs_grad(1)) return;
           const Tensor ggx = sum(gg * x);
           if (c.needs_grad(0)) c.accumulate(0, zero ? ggx * 0.0 : ggx / y);
           if (c.needs_grad(1)) c.accumulate(1, zero ? ggx * (0.5 * rsqrt(y) * 0.0) : -(ggx * g / square(y)));
         },
     .samples = {{.label = "all",
                  .inputs = [](Dtype d, Generator& gen) {
                    const Tensor x = samples::normal({3, 4}, d, gen);
                    return std::vector<OpSample>{{{samples::normal({}, d, gen), norm(x), x}, "matrix"}};
                  }}}});
static const Op<void> kNorm(
    {.name = "norm",
     .forward =
         [](Inputs in) {
           const Tensor& x = in[0];
           Tensor out = make_tensor(Shape{}, x.dtype(), "norm");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             const int64_t n = x.numel();
             double scale = 0;
             bool nan = false;
             for (int64_t k = 0; k < n; ++k) {
               nan |= std::isnan(p[k]);
               scale = std::max(scale, std::abs(static_cast<double>(p[k])));
             }
             double r;
             if (nan) r = NAN;
             else if (scale == 0 || std::isinf(scale)) r = scale;
             else {
               double s = 0;
               for (int64_t k = 0; k < n; ++k) {
                 const double v = static_cast<double>(p[k]) / scale;
                 s += v * v;
               }
               r = scale * std::sqrt(s);
             }
             ptr<T>(out)[0] = static_cast<T>(r);
           });
           return out;
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor y = c.output();
           c.accumulate(0, kNormBackward({c.grad(), y, c.input(0)}));
         },
     // Samples stay off the kink at 0, as every registry sample does: there the subgradient 0 is
     // a choice, not a derivative, and x / |x| jumps (tests/ops_math_test.cpp checks it is 0).
     .samples = {{.label = "all",
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                  }}}});
Tensor norm(const Tensor& x) { return kNorm({x}); }

}  // namespace tapegrad
