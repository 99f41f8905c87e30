// Ops that choose between values: where, clamp, maximum and minimum. Each forward beside its
// backward. NaN propagates as in PyTorch: a NaN operand gives NaN, never the other value.
#include <cmath>

#include "ops/pointwise.h"
#include "show.h"

namespace tapegrad {

using namespace detail;

namespace {
// `t` broadcast to `shape`, as a plain kernel (nothing recorded): the three operands of where
// are brought to one shape before its single loop.
Tensor expanded(const char* op, const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  return broadcast_zip(op, t, make_tensor(shape, t.dtype()), [](auto x, auto) { return x; });
}
}  // namespace

// ---- where: a where mask is nonzero, b elsewhere. The mask is data, not a variable: the node
// keeps its own copy (in the arguments), so a later write to the caller's mask cannot change the
// gradient ----
struct WhereArgs {
  Tensor mask;
};
Tensor where_op(Inputs in, const WhereArgs& w);
static const Op<WhereArgs> kWhere(
    {.name = "where",
     .forward =
         [](Inputs in, WhereArgs& w) {
           const Tensor &a = in[0], &b = in[1];
           same_dtype("where", a, b);
           // A replay may run at another dtype (per-node gradcheck promotes to float64).
           if (w.mask.dtype() != a.dtype()) w.mask = w.mask.to(a.dtype());
           const Shape shape = broadcast_shapes("where", broadcast_shapes("where", w.mask.shape(), a.shape()), b.shape());
           const Tensor m = expanded("where", w.mask, shape), x = expanded("where", a, shape), y = expanded("where", b, shape);
           Tensor out = make_tensor(shape, a.dtype(), "where");
           dispatch(a.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T *mp = ptr<T>(m), *xp = ptr<T>(x), *yp = ptr<T>(y);
             T* r = ptr<T>(out);
             for (int64_t k = 0, n = out.numel(); k < n; ++k) r[k] = mp[k] != 0 ? xp[k] : yp[k];
           });
           return out;
         },
     // The same choice on the upstream, with zero for the operand not chosen: linear in the
     // upstream, and the node's own copy of the mask, so where is its own derivative.
     .backward =
         [](BackwardContext& c, const WhereArgs& w) {
           const Tensor zero = zeros(Shape{}, c.grad().dtype());
           if (c.needs_grad(0)) c.accumulate(0, where_op({c.grad(), zero}, w));
           if (c.needs_grad(1)) c.accumulate(1, where_op({zero, c.grad()}, w));
         },
     // The registry calls where itself, with the mask as input 0 (data, not a variable).
     .samples = {{.label = "mask of 0 and 1",
                  .inputs =
                      [](Dtype d, Generator& g) {
                        auto mask = [&](const Shape& s) { return greater(samples::uniform(s, -1, 1, d, g), 0.0); };
                        auto u = [&](const Shape& s) { return samples::uniform(s, -2, 2, d, g); };
                        return Samples{{{mask({2, 3}), u({2, 3}), u({2, 3})}, "same shape"},
                                       {{mask({3, 1}), u({4}), u({3, 4})}, "mask [3,1], a [4], b [3,4]"},
                                       {{mask({2, 3}), u({}), u({2, 3})}, "rank-0 a"}};
                      },
                  .data_inputs = {0},
                  .call = [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); }}}});
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  defined("where", mask);
  defined("where", a);
  same_dtype("where", mask, a);
  return kWhere({a, b}, {mask.detach().clone()});
}
Tensor where_op(Inputs in, const WhereArgs& w) { return kWhere(in, w); }

// ---- clamp: lo where x < lo, hi where x > hi; the gradient passes where lo <= x <= hi ----
struct ClampArgs {
  double lo, hi;
};
Tensor clamp_backward_op(Inputs in, const ClampArgs& a);
// Samples for lo = -1, hi = 1: away from both bounds, where the derivative jumps.
static Samples clamp_inputs(Dtype d, Generator& g) {
  auto u = [&](const Shape& s) {
    Tensor t = samples::away_from(s, 1.0, 0.1, Dtype::f64, g);
    double* p = t.data<double>();
    for (int64_t k = 0; k < t.numel(); ++k) p[k] = k % 2 ? p[k] - 2.0 : p[k];  // odd ones near -1
    return t.to(d);
  };
  return Samples{{{u({2, 3})}, "matrix"}, {{u({5})}, "vector"}};
}
static const Op<ClampArgs> kClamp(
    {.name = "clamp",
     .forward =
         [](Inputs in, ClampArgs& a) {
           if (!(a.lo <= a.hi))
             throw Error("clamp: lo must be <= hi, got lo " + show_double(a.lo) + " and hi " + show_double(a.hi) +
                         " (for a tensor of shape " + in[0].shape().str() + ")");
           return map(in[0], [lo = a.lo, hi = a.hi](auto x) {
             using T = decltype(x);
             return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x);  // NaN fails both tests and stays NaN
           });
         },
     .backward =
         [](BackwardContext& c, const ClampArgs& a) {
           c.accumulate(0, clamp_backward_op({c.grad(), c.input(0)}, a));
         },
     .samples = {{.label = "lo=-1, hi=1", .args = {-1.0, 1.0}, .inputs = clamp_inputs}}});
Tensor clamp(const Tensor& x, double lo, double hi) { return kClamp({x}, {lo, hi}); }

// clamp_backward(g, x): g where lo <= x <= hi, else 0. Linear in g, so its backward is itself on
// the upstream; piecewise constant in x (a zero gradient).
static const Op<ClampArgs> kClampBackward(
    {.name = "clamp_backward",
     .forward =
         [](Inputs in, ClampArgs& a) {
           same_dtype("clamp_backward", in[0], in[1]);
           if (in[0].shape() != in[1].shape())
             throw Error("clamp_backward: the gradient and the input must have one shape, got " + in[0].shape().str() +
                         " and " + in[1].shape().str());
           // Written as the test for inside, so that NaN (which fails every comparison) gets 0, as
           // in PyTorch's clamp_backward.
           return zip(in[0], in[1], [lo = a.lo, hi = a.hi](auto g, auto x) {
             using T = decltype(x);
             return x >= T(lo) && x <= T(hi) ? g : T(0);
           });
         },
     .backward =
         [](BackwardContext& c, const ClampArgs& a) {
           if (c.needs_grad(0)) c.accumulate(0, clamp_backward_op({c.grad(), c.input(1)}, a));
         },
     .samples = {{.label = "lo=-1, hi=1",
                  .args = {-1.0, 1.0},
                  .inputs =
                      [](Dtype d, Generator& g) {
                        Samples s = clamp_inputs(d, g);
                        for (OpSample& x : s) x.inputs.insert(x.inputs.begin(), samples::normal(x.inputs[0].shape(), d, g));
                        return s;
                      },
                  .zero_gradient_inputs = {1}}}});
Tensor clamp_backward_op(Inputs in, const ClampArgs& a) { return kClampBackward(in, a); }

// ---- maximum and minimum: at a tie each operand gets half the gradient (as PyTorch) ----
namespace {
template <bool Max>
Tensor choose_forward(Inputs in) {
  return broadcast_zip(Max ? "maximum" : "minimum", in[0], in[1], [](auto x, auto y) {
    if (std::isnan(x)) return x;
    return (Max ? x >= y : x <= y) ? x : y;  // NaN in y fails the test and is returned
  });
}
// <maximum|minimum>_backward(g, a, b; operand): the share of the upstream g that goes to one
// operand: 1 where it wins, 1/2 at a tie, 0 where it loses, at the broadcast shape. Written as
// PyTorch's derivatives.yaml writes it (1 unless the operand loses), so that where either is NaN,
// neither loses and both get the whole gradient, as in libtorch.
struct ChooseArgs {
  size_t operand;  // 0: a, 1: b
};
template <bool Max>
Tensor choose_grad_forward(Inputs in, ChooseArgs& args) {
  const char* op = Max ? "maximum_backward" : "minimum_backward";
  const Tensor &g = in[0], &a = in[1], &b = in[2];
  same_dtype(op, g, a);
  same_dtype(op, a, b);
  auto share = [first = args.operand == 0](auto x, auto y) {
    using T = decltype(x);
    const bool loses = first ? (Max ? x < y : x > y) : (Max ? y < x : y > x);
    return x == y ? T(0.5) : (loses ? T(0) : T(1));
  };
  if (a.shape() == b.shape() && g.shape() == a.shape())  // no broadcasting (the common case): one pass
    return zip3(g, a, b, [share](auto u, auto x, auto y) { return u * share(x, y); });
  const Tensor s = broadcast_zip(op, a, b, share);
  if (g.shape() != s.shape())
    throw Error(std::string(op) + ": the gradient has shape " + g.shape().str() + ", expected the operands' broadcast shape " +
                s.shape().str());
  return broadcast_zip(op, g, s, [](auto u, auto w) { return u * w; });
}
template <bool Max>
Tensor choose_grad_op(Inputs in, const ChooseArgs& args);
// Linear in g, so the upstream takes the same share; piecewise constant in a and b (data).
template <bool Max>
void choose_grad_backward(BackwardContext& c, const ChooseArgs& args) {
  if (c.needs_grad(0)) c.accumulate(0, choose_grad_op<Max>({c.grad(), c.input(1), c.input(2)}, args));
}
template <bool Max>
void choose_backward(BackwardContext& c) {
  for (size_t i = 0; i < 2; ++i)
    if (c.needs_grad(i)) c.accumulate(i, choose_grad_op<Max>({c.grad(), c.input(0), c.input(1)}, {i}));
}
// Samples where each operand wins somewhere: else one operand's gradient is zero everywhere and
// its check compares only zeros (vacuous). Random values settle the rest, which ties nowhere.
std::vector<OpSample> contest_inputs(Dtype d, Generator& g) {
  std::vector<OpSample> out = binary_inputs()(d, g);
  for (OpSample& s : out) {
    Tensor& a = s.inputs[0];
    Tensor& b = s.inputs[1];
    std::vector<double> va = a.to(Dtype::f64).to_vector<double>(), vb = b.to(Dtype::f64).to_vector<double>();
    if (va.size() == 1) {
      va[0] = 0, vb[0] = 1, vb[1] = -1;
    } else if (vb.size() == 1) {
      vb[0] = 0, va[0] = 1, va[1] = -1;
    } else {
      va[0] = 3, vb[0] = 2.5;  // a[0] beats every b, b[0] every other a (the rest lie in (-2, 2))
    }
    a = from_vector(va, a.shape(), d);
    b = from_vector(vb, b.shape(), d);
  }
  return out;
}

// The kinks of maximum and minimum: ties within eps, in both operands (broadcast back).
void ties(Inputs in, const NoArgs&, double eps, std::vector<ElementRef>& out) {
  const Tensor a = in[0].detach().to(Dtype::f64), b = in[1].detach().to(Dtype::f64);
  const Shape shape = broadcast_shapes("maximum", a.shape(), b.shape());
  // Flat index of an output element in an operand of shape `s` (size-1 axes broadcast).
  auto source = [&](const Shape& s, int64_t flat) {
    int64_t index = 0, stride = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      const int64_t i = flat % shape[d];
      flat /= shape[d];
      const size_t ds = d + s.size() - shape.size();
      if (d + s.size() >= shape.size()) {
        if (s[ds] != 1) index += i * stride;
        stride *= s[ds];
      }
    }
    return index;
  };
  const double *pa = a.data<double>(), *pb = b.data<double>();
  for (int64_t k = 0; k < shape.numel(); ++k) {
    const int64_t ia = source(a.shape(), k), ib = source(b.shape(), k);
    if (std::abs(pa[ia] - pb[ib]) <= 2 * eps) {
      out.push_back({0, ia});
      out.push_back({1, ib});
    }
  }
}
// The same ties in the backward op's inputs g, a, b.
void ties_of_operands(Inputs in, const ChooseArgs&, double eps, std::vector<ElementRef>& out) {
  const size_t first = out.size();
  ties(Inputs({in[1], in[2]}), NoArgs{}, eps, out);
  for (size_t k = first; k < out.size(); ++k) ++out[k].input;
}
// The backward op's samples: an upstream at the broadcast shape before the forward's operands.
std::vector<OpSample> choose_grad_inputs(Dtype d, Generator& g) {
  std::vector<OpSample> out = contest_inputs(d, g);
  for (OpSample& s : out) {
    const Shape shape = broadcast_shapes("maximum", s.inputs[0].shape(), s.inputs[1].shape());
    s.inputs.insert(s.inputs.begin(), samples::normal(shape, d, g));
  }
  return out;
}
std::vector<Sample<ChooseArgs>> choose_grad_samples() {
  return {{.label = "operand a", .args = {0}, .inputs = choose_grad_inputs, .zero_gradient_inputs = {1, 2}},
          {.label = "operand b", .args = {1}, .inputs = choose_grad_inputs, .zero_gradient_inputs = {1, 2}}};
}
}  // namespace

static const Op<void> kMaximum({.name = "maximum",
                                .forward = choose_forward<true>,
                                .backward = choose_backward<true>,
                                .samples = {{.label = "no ties", .inputs = contest_inputs}},
                                .kinks = ties});
Tensor maximum(const Tensor& a, const Tensor& b) { return kMaximum({a, b}); }

static const Op<void> kMinimum({.name = "minimum",
                                .forward = choose_forward<false>,
                                .backward = choose_backward<false>,
                                .samples = {{.label = "no ties", .inputs = contest_inputs}},
                                .kinks = ties});
Tensor minimum(const Tensor& a, const Tensor& b) { return kMinimum({a, b}); }

static const Op<ChooseArgs> kMaximumBackward({.name = "maximum_backward",
                                              .forward = choose_grad_forward<true>,
                                              .backward = choose_grad_backward<true>,
                                              .samples = choose_grad_samples(),
                                              .kinks = ties_of_operands});
static const Op<ChooseArgs> kMinimumBackward({.name = "minimum_backward",
                                              .forward = choose_grad_forward<false>,
                                              .backward = choose_grad_backward<false>,
                                              .samples = choose_grad_samples(),
                                              .kinks = ties_of_operands});
namespace {
template <bool Max>
Tensor choose_grad_op(Inputs in, const ChooseArgs& args) {
  return Max ? kMaximumBackward(in, args) : kMinimumBackward(in, args);
}
}  // namespace

}  // namespace tapegrad
