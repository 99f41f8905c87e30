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

// ---- var and std: the mean of squared deviations, divided by n - correction (1: Bessel's
// correction, the unbiased sample variance, as PyTorch's default; 0: the population variance) ----
Tensor var(const Tensor& x, int64_t axis, bool keepdim, int64_t correction) {
  defined("var", x);
  const size_t ax = normalize_axis("var", axis, x.shape());
  const int64_t n = x.shape()[ax];
  if (correction < 0 || n - correction <= 0)
    throw Error("var: axis " + std::to_string(axis) + " of " + x.shape().str() + " has " + std::to_string(n) +
                " element(s), and a correction of " + std::to_string(correction) +
                " needs more (n - correction must be > 0, and the correction >= 0)");
  const Tensor deviation = x - mean(x, axis, true);
  return div_scalar(sum(square(deviation), axis, keepdim), static_cast<double>(n - correction));
}
static RegisterOp reg_var({"var", "axis=1", [](auto& in) { return var(in[0], 1, false); }, reduce_inputs()});
static RegisterOp reg_var_pop({"var", "axis=0, keepdim, correction=0", [](auto& in) { return var(in[0], 0, true, 0); },
                               reduce_inputs()});

Tensor std(const Tensor& x, int64_t axis, bool keepdim, int64_t correction) {
  defined("std", x);
  return sqrt(var(x, axis, keepdim, correction));
}
static RegisterOp reg_std({"std", "axis=1", [](auto& in) { return std(in[0], 1, false); }, reduce_inputs()});

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
           if (c.create_graph()) {
             // The kernels below in recorded ops. y is a scalar, so its test is one branch; at y = 0 the
             // product with zero keeps the gradient a (zero) function of g and x, as the kernel's is.
             const Tensor y = c.output();
             c.accumulate(0, c.input(0) * (y.item() == 0 ? c.grad() * 0.0 : c.grad() / y));
             return;
           }
           const Tensor per_unit = zip(c.grad(), c.output(), [](auto g, auto y) { return y == 0 ? decltype(y)(0) : g / y; });
           c.accumulate(0, broadcast_zip("norm", c.input(0), per_unit, [](auto v, auto f) { return v * f; }));
         },
     // Samples stay off the kink at 0, as every registry sample does: there the subgradient 0 is
     // a choice, not a derivative, and x / |x| jumps (tests/ops_math_test.cpp checks it is 0).
     .samples = {{.label = "all",
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                  }}}});
Tensor norm(const Tensor& x) { return kNorm({x}); }

}  // namespace tapegrad
