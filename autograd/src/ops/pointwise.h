#pragma once
// Private to the op files: the y = f(x) op builders and the sample inputs shared by the
// elementwise families (ops/elementwise.cpp, ops/math.cpp, ops/activation.cpp, ops/compare.cpp).
#include <deque>
#include <string>
#include <vector>

#include "kernels.h"

namespace tapegrad::detail {

using Samples = std::vector<OpSample>;

// Shapes that exercise broadcasting in both directions and the flat fast paths.
inline SampleInputs binary_inputs(double lo = -2, double hi = 2) {
  return [lo, hi](Dtype d, Generator& g) {
    auto u = [&](const Shape& s) { return samples::uniform(s, lo, hi, d, g); };
    return Samples{{{u({2, 3}), u({2, 3})}, "same shape"},
                   {{u({3, 1}), u({4})}, "broadcast [3,1] with [4]"},
                   {{u({2, 3}), u({})}, "tensor with rank-0"},
                   {{u({}), u({2, 3})}, "rank-0 with tensor"},
                   {{u({2, 1, 3}), u({1, 4, 1})}, "3-D broadcast both ways"}};
  };
}
// Divisors kept away from zero.
inline Samples div_inputs(Dtype d, Generator& g) {
  Samples s = binary_inputs()(d, g);
  for (OpSample& x : s) x.inputs[1] = samples::away_from(x.inputs[1].shape(), 0.0, 0.5, d, g);
  return s;
}
inline SampleInputs unary_inputs(double lo = -2, double hi = 2) {
  return [lo, hi](Dtype d, Generator& g) {
    return Samples{{{samples::uniform({2, 3}, lo, hi, d, g)}, "matrix"}, {{samples::uniform({}, lo, hi, d, g)}, "rank-0"}};
  };
}
inline Samples kink_inputs(Dtype d, Generator& g) {
  return {{{samples::away_from({2, 3}, 0.0, 0.1, d, g)}, "matrix away from 0"},
          {{samples::away_from({4}, 0.0, 0.1, d, g)}, "vector away from 0"}};
}

// Declares a kink of an elementwise op at x = 0 (relu, abs, leaky_relu): gradcheck reports an
// element within eps of it as inconclusive instead of comparing it.
void elements_near_zero(const Tensor& x, double eps, std::vector<ElementRef>& out);
template <class Args>
OpSpec<Args> kink_at_zero(OpSpec<Args> spec) {
  spec.kinks = [](Inputs in, const ArgsOrNone<Args>&, double eps, std::vector<ElementRef>& out) {
    elements_near_zero(in[0], eps, out);
  };
  return spec;
}

// ---- y = f(x) elementwise, and its backward as an op of its own ----
//
// The input gradient of y = f(x) is b(g, x, y) for the upstream gradient g (the chain rule
// written out, as in derivatives.yaml), linear in g. The forward and the backward are one fused
// loop each. So that a gradient can be differentiated again, b is also the forward of an op of
// its own, `<name>_backward`(g, x, y), as PyTorch has tanh_backward: a create_graph pass records
// it, and its backward is the second derivative, written with library ops (so that it records
// in turn). For an upstream gg of b's output and t = gg g:
//   d/dg = b(gg, x, y)     (b is linear in g: the same op again)
//   d/dx, d/dy             the second derivative's terms, given as `second(t, x, y)`.
// Each of d/dx and d/dy is the partial derivative, with the other held fixed: the chain through
// y = f(x) is the tape's job. An elementwise op is its declaration plus one of these.

// The terms of a second derivative; an undefined term is zero (b does not vary with it).
struct Second {
  Tensor dx = {}, dy = {};
};
// Which of x and y the second derivative varies with: the backward op's registry samples name
// the others zero_gradient_inputs (a check comparing only zeros there would prove nothing).
enum class Varies { none, x, y, both };

// Persistent storage for the derived names ("tanh_backward").
inline const char* backward_name(const char* name) {
  static std::deque<std::string> names;
  return names.emplace_back(std::string(name) + "_backward").c_str();
}

// Throws unless the backward op's three inputs agree in shape and dtype (what the forward gives).
void check_backward_inputs(const char* op, Inputs in);

// The backward op's samples, derived from the forward's: g normal, x the forward's sample and
// y = f(x).
template <class Args, class F>
std::vector<Sample<Args>> backward_samples(const std::vector<Sample<Args>>& forward, Varies varies, F f) {
  std::vector<Sample<Args>> out;
  for (const Sample<Args>& s : forward) {
    Sample<Args> b = s;
    b.inputs = [gen = s.inputs, f, args = s.args](Dtype d, Generator& g) {
      std::vector<OpSample> samples = gen(d, g);
      for (OpSample& x : samples) {
        Tensor y = f(x.inputs[0], args);
        x.inputs = {samples::normal(x.inputs[0].shape(), d, g), x.inputs[0], y};
      }
      return samples;
    };
    if (varies == Varies::none || varies == Varies::y) b.zero_gradient_inputs.push_back(1);
    if (varies == Varies::none || varies == Varies::x) b.zero_gradient_inputs.push_back(2);
    out.push_back(std::move(b));
  }
  return out;
}

// The backward op of one elementwise op (one per instantiation of the builders below).
template <class F, class B, class S>
struct PointwiseTag;
template <class F, class B, class S>
struct PointwiseScalarTag;
template <class Tag>
struct BackwardOp {
  static inline const OpInfo* op = nullptr;
  static inline const char* name = nullptr;
  template <class Args>
  static const Op<Args>& get() {
    return *static_cast<const Op<Args>*>(op);
  }
};

template <class F, class B, class S>
OpSpec<void> pointwise(const char* name, F, B, S, Varies varies, std::vector<Sample<void>> samples) {
  using Tag = BackwardOp<PointwiseTag<F, B, S>>;
  Tag::name = backward_name(name);
  Tag::op = new Op<void>(OpSpec<void>{
      .name = Tag::name,
      .forward =
          [](Inputs in) {
            check_backward_inputs(BackwardOp<PointwiseTag<F, B, S>>::name, in);
            return zip3(in[0], in[1], in[2], [](auto g, auto x, auto y) { return B{}(g, x, y); });
          },
      .backward =
          [](BackwardContext& c) {
            const auto& self = BackwardOp<PointwiseTag<F, B, S>>::template get<void>();
            if (c.needs_grad(0)) c.accumulate(0, self({c.grad(), c.input(1), c.input(2)}));
            if (!c.needs_grad(1) && !c.needs_grad(2)) return;
            const Second d = S{}(c.grad() * c.input(0), c.input(1), c.input(2));
            if (d.dx.defined()) c.accumulate(1, d.dx);
            if (d.dy.defined()) c.accumulate(2, d.dy);
          },
      .samples = backward_samples<void>(samples, varies, [](const Tensor& x, NoArgs) { return map(x, F{}); })});
  return {.name = name,
          .forward = [](Inputs in) { return map(in[0], F{}); },
          .backward =
              [](BackwardContext& c) {
                if (c.create_graph()) {
                  const auto& b = BackwardOp<PointwiseTag<F, B, S>>::template get<void>();
                  const Tensor y = c.output();
                  c.accumulate(0, b({c.grad(), c.input(0), y}));
                } else {
                  c.accumulate(0, pointwise_grad(c, [](auto g, auto x, auto y) { return B{}(g, x, y); }));
                }
              },
          .samples = std::move(samples)};
}

// The same for y = f(x; s) with a scalar argument s; `second(t, x, y, s)`.
struct Scalar {
  double s;
};
template <class F, class B, class S>
OpSpec<Scalar> pointwise_scalar(const char* name, F, B, S, Varies varies, std::vector<Sample<Scalar>> samples) {
  using Tag = BackwardOp<PointwiseScalarTag<F, B, S>>;
  Tag::name = backward_name(name);
  Tag::op = new Op<Scalar>(OpSpec<Scalar>{
      .name = Tag::name,
      .forward =
          [](Inputs in, Scalar& a) {
            check_backward_inputs(BackwardOp<PointwiseScalarTag<F, B, S>>::name, in);
            return zip3(in[0], in[1], in[2], [s = a.s](auto g, auto x, auto y) {
              return B{}(g, x, y, static_cast<decltype(x)>(s));
            });
          },
      .backward =
          [](BackwardContext& c, const Scalar& a) {
            const auto& self = BackwardOp<PointwiseScalarTag<F, B, S>>::template get<Scalar>();
            if (c.needs_grad(0)) c.accumulate(0, self({c.grad(), c.input(1), c.input(2)}, a));
            if (!c.needs_grad(1) && !c.needs_grad(2)) return;
            const Second d = S{}(c.grad() * c.input(0), c.input(1), c.input(2), a.s);
            if (d.dx.defined()) c.accumulate(1, d.dx);
            if (d.dy.defined()) c.accumulate(2, d.dy);
          },
      .samples = backward_samples<Scalar>(samples, varies, [](const Tensor& x, const Scalar& a) {
        return map(x, [s = a.s](auto v) { return F{}(v, static_cast<decltype(v)>(s)); });
      })});
  return {.name = name,
          .forward = [](Inputs in, Scalar& a) {
            return map(in[0], [s = a.s](auto x) { return F{}(x, static_cast<decltype(x)>(s)); });
          },
          .backward =
              [](BackwardContext& c, const Scalar& a) {
                if (c.create_graph()) {
                  const auto& b = BackwardOp<PointwiseScalarTag<F, B, S>>::template get<Scalar>();
                  const Tensor y = c.output();
                  c.accumulate(0, b({c.grad(), c.input(0), y}, a));
                } else {
                  c.accumulate(0, pointwise_grad(c, [s = a.s](auto g, auto x, auto y) {
                                 return B{}(g, x, y, static_cast<decltype(x)>(s));
                               }));
                }
              },
          .samples = std::move(samples)};
}

}  // namespace tapegrad::detail
