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
     .backward =
         [](BackwardContext& c, const WhereArgs& w) {
           if (c.create_graph()) {
             // The same choice as the kernels below, as recorded wheres: linear in the upstream.
             const Tensor zero = zeros(Shape{}, c.grad().dtype());
             if (c.needs_grad(0)) c.accumulate(0, where(w.mask, c.grad(), zero));
             if (c.needs_grad(1)) c.accumulate(1, where(w.mask, zero, c.grad()));
             return;
           }
           if (c.needs_grad(0))
             c.accumulate(0, broadcast_zip("where", c.grad(), w.mask, [](auto g, auto m) { return m != 0 ? g : decltype(g)(0); }));
           if (c.needs_grad(1))
             c.accumulate(1, broadcast_zip("where", c.grad(), w.mask, [](auto g, auto m) { return m != 0 ? decltype(g)(0) : g; }));
         },
     .samples = {}});
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  defined("where", mask);
  defined("where", a);
  same_dtype("where", mask, a);
  return kWhere({a, b}, {mask.detach().clone()});
}
static RegisterOp reg_where({"where", "mask of 0 and 1", [](auto& in) { return where(in[0], in[1], in[2]); },
                             [](Dtype d, Generator& g) {
                               auto mask = [&](const Shape& s) { return greater(samples::uniform(s, -1, 1, d, g), 0.0); };
                               auto u = [&](const Shape& s) { return samples::uniform(s, -2, 2, d, g); };
                               return Samples{{{mask({2, 3}), u({2, 3}), u({2, 3})}, "same shape"},
                                              {{mask({3, 1}), u({4}), u({3, 4})}, "mask [3,1], a [4], b [3,4]"},
                                              {{mask({2, 3}), u({}), u({2, 3})}, "rank-0 a"}};
                             },
                             true, {0}});

// ---- clamp: lo where x < lo, hi where x > hi; the gradient passes where lo <= x <= hi ----
struct ClampArgs {
  double lo, hi;
};
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
           if (c.create_graph()) {
             // The kernel below as a recorded where, on a mask that is data (piecewise constant in x).
             const Tensor inside = map(c.input(0), [lo = a.lo, hi = a.hi](auto x) {
               using T = decltype(x);
               return x >= T(lo) && x <= T(hi) ? T(1) : T(0);
             });
             c.accumulate(0, where(inside, c.grad(), zeros(Shape{}, c.grad().dtype())));
             return;
           }
           // Written as the test for inside, so that NaN (which fails every comparison) gets 0, as in
           // PyTorch's clamp_backward.
           c.accumulate(0, pointwise_grad(c, [lo = a.lo, hi = a.hi](auto g, auto x, auto) {
                          using T = decltype(x);
                          return x >= T(lo) && x <= T(hi) ? g : T(0);
                        }));
         },
     .samples = {{.label = "lo=-1, hi=1",
                  .args = {-1.0, 1.0},
                  .inputs = [](Dtype d, Generator& g) {
                    // Away from both bounds, where the derivative jumps.
                    auto u = [&](const Shape& s) {
                      Tensor t = samples::away_from(s, 1.0, 0.1, Dtype::f64, g);
                      double* p = t.data<double>();
                      for (int64_t k = 0; k < t.numel(); ++k) p[k] = k % 2 ? p[k] - 2.0 : p[k];  // odd ones near -1
                      return t.to(d);
                    };
                    return Samples{{{u({2, 3})}, "matrix"}, {{u({5})}, "vector"}};
                  }}}});
Tensor clamp(const Tensor& x, double lo, double hi) { return kClamp({x}, {lo, hi}); }

// ---- maximum and minimum: at a tie each operand gets half the gradient (as PyTorch) ----
namespace {
template <bool Max>
Tensor choose_forward(Inputs in) {
  return broadcast_zip(Max ? "maximum" : "minimum", in[0], in[1], [](auto x, auto y) {
    if (std::isnan(x)) return x;
    return (Max ? x >= y : x <= y) ? x : y;  // NaN in y fails the test and is returned
  });
}
template <bool Max>
void choose_backward(BackwardContext& c) {
  const char* op = Max ? "maximum" : "minimum";
  const Tensor &a = c.input(0), &b = c.input(1);
  // The share of the gradient that goes to each operand: 1 where it wins, 1/2 at a tie, 0 where
  // it loses. Written as PyTorch's derivatives.yaml writes it (1 unless the operand loses), so
  // that where either is NaN, neither loses and both get the whole gradient, as in libtorch.
  auto share = [](bool first) {
    return [first](auto x, auto y) {
      using T = decltype(x);
      const bool loses = first ? (Max ? x < y : x > y) : (Max ? y < x : y > x);
      return x == y ? T(0.5) : (loses ? T(0) : T(1));
    };
  };
  const bool flat = a.shape() == b.shape() && c.grad().shape() == a.shape();
  for (size_t i = 0; i < 2; ++i) {
    if (!c.needs_grad(i)) continue;
    const bool first = i == 0;
    if (flat && !c.create_graph()) {  // no broadcasting (the common case): one pass per operand
      c.accumulate(i, zip3(c.grad(), a, b, [f = share(first)](auto g, auto x, auto y) { return g * f(x, y); }));
      continue;
    }
    const Tensor s = broadcast_zip(op, a, b, share(first));
    // Under create_graph a recorded mul: the share is data (piecewise constant in a and b).
    if (c.create_graph()) c.accumulate(i, mul(c.grad(), s));
    else c.accumulate(i, broadcast_zip(op, c.grad(), s, [](auto g, auto w) { return g * w; }));
  }
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

}  // namespace tapegrad
