// Reductions built for statistics: logsumexp, var and std (with a settable correction), and the
// 2-norm. Forward beside backward; var and std are compositions of recorded ops.
#include <algorithm>
#include <cmath>

#include "ops/axis.h"

namespace tapegrad {

using namespace detail;


// ---- logsumexp: log(sum(exp(x))) over an axis, relative to the maximum (no overflow); the
// gradient is softmax(x) = exp(x - y) ----
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
           const Tensor& x = c.input(0);
           const Shape kept = reduced_shape(x.shape(), static_cast<size_t>(a.axis), true);
           const Tensor y = reshape(c.output(), kept.vec()), g = reshape(c.grad(), kept.vec());
           if (c.create_graph()) {  // the kernels below in recorded ops, so that it is differentiable again
             c.accumulate(0, exp(x - y) * g);
             return;
           }
           const Tensor soft = broadcast_zip("logsumexp", x, y, [](auto v, auto lse) { return std::exp(v - lse); });
           c.accumulate(0, broadcast_zip("logsumexp", soft, g, [](auto s, auto u) { return s * u; }));
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
            const Tensor& x = c.input(0);
            const size_t ax = static_cast<size_t>(a.axis);
            const double divisor = static_cast<double>(x.shape()[ax] - a.correction);
            const std::vector<int64_t> kept = reduced_shape(x.shape(), ax, true).vec();
            if (c.create_graph()) {
              // The kernel below in recorded ops.
              const Tensor g = reshape(c.grad(), kept), deviation = x - mean(x, a.axis, true);
              if constexpr (!Std) {
                c.accumulate(0, deviation * (g * (2.0 / divisor)));
              } else {
                // The division sees 1 where y = 0 (a where on data), so that no 0 / 0 enters the
                // graph that a later derivative would multiply by zero.
                const Tensor y = reshape(c.output(), kept);
                const Tensor live = map(y, [](auto v) { return v != 0 ? decltype(v)(1) : decltype(v)(0); });
                const Tensor one = full(Shape{}, 1.0, x.dtype()), zero = zeros(Shape{}, x.dtype());
                c.accumulate(0, deviation * where(live, g / (where(live, y, one) * divisor), zero));
              }
              return;
            }
            const Lanes l = lanes(x.shape(), ax);
            Tensor gx = make_tensor(x.shape(), x.dtype(), Std ? "std backward" : "var backward");
            dispatch(x.dtype(), [&](auto tag) {
              using T = decltype(tag);
              const T* p = ptr<T>(x);
              const T* y = c.output_impl().template data<T>();
              const T* g = ptr<T>(c.grad());
              T* q = ptr<T>(gx);
              each_lane_with_mean(p, l, [&](int64_t off, int64_t st, int64_t k, double m) {
                const double gk = static_cast<double>(g[k]);
                // std: g * 0 where y = 0, not 0, so that an upstream NaN stays NaN.
                const double f = !Std ? 2 * gk / divisor
                                      : (y[k] != 0 ? gk / (divisor * static_cast<double>(y[k])) : gk * 0.0);
                for (int64_t j = 0; j < l.n; ++j)
                  q[off + j * st] = static_cast<T>((static_cast<double>(p[off + j * st]) - m) * f);
              });
            });
            c.accumulate(0, std::move(gx));
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
           const Tensor& x = c.input(0);
           const double y = c.output().item();
           // x / y first, then times g: x / y is at most 1, where g / y overflows for a subnormal y
           // (the forward scales for the same reason).
           if (c.create_graph()) {
             // The kernel below in recorded ops. At y = 0 the gradient is 0, but the norm has no second
             // derivative there (its Hessian (I - x x^T / y^2) / y grows without bound near 0): the term
             // 0 * sqrt(y), 0 in value, has the derivative 0 * inf = NaN, so that a second derivative
             // taken through this point is NaN, as libtorch's, not a finite value that is right for no
             // function of the norm (docs/higher-order.md).
             const Tensor out = c.output();
             c.accumulate(0, y == 0 ? x * (c.grad() * 0.0 + sqrt(out) * 0.0) : x / out * c.grad());
             return;
           }
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T g = ptr<T>(c.grad())[0], yt = static_cast<T>(y);
             // At y = 0, g * 0 rather than 0: an upstream NaN stays NaN (x is all zeros there).
             const T per_unit = y == 0 ? g * T(0) : g / yt;
             // x times g / y, one multiply an element, unless g / y overflows (a subnormal y):
             // then x / y, at most 1, times g.
             if (std::isfinite(per_unit) || !std::isfinite(g) || !std::isfinite(yt))
               c.accumulate(0, map(x, [per_unit](auto v) { return static_cast<decltype(v)>(v * per_unit); }));
             else
               c.accumulate(0, map(x, [g, yt](auto v) { return static_cast<decltype(v)>(v / yt * g); }));
           });
         },
     // Samples stay off the kink at 0, as every registry sample does: there the subgradient 0 is
     // a choice, not a derivative, and x / |x| jumps (tests/ops_math_test.cpp checks it is 0).
     .samples = {{.label = "all",
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                  }}}});
Tensor norm(const Tensor& x) { return kNorm({x}); }

}  // namespace tapegrad
