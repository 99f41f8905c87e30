#pragma once
// Private to the op files: the y = f(x) op builders and the sample inputs shared by the
// elementwise families (ops/elementwise.cpp, ops/math.cpp, ops/activation.cpp, ops/choose.cpp).
#include <deque>
#include <string>
#include <vector>

#include "ops/loops.h"

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
                   {{u({2, 1, 3}), u({1, 4, 1})}, "3-D broadcast both ways"},
                   {{u({3, 4}), u({4})}, "rows [3,4] with a row [4]"}};
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
// The same, inline for the case that passes: this runs once per elementwise node of a backward.
inline void check_backward_inputs_fast(const char* op, Inputs in) {
  const TensorImpl *g = impl_of(in[0]), *x = impl_of(in[1]), *y = impl_of(in[2]);
  if (g->dtype != x->dtype || g->dtype != y->dtype || g->shape != x->shape || g->shape != y->shape) [[unlikely]]
    check_backward_inputs(op, in);
}

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

// The scalar argument of y = f(x; s) (elu's alpha, pow's exponent).
struct Scalar {
  double s;
};

// How f, b and second receive an op's arguments: nothing for Args = void, the scalar s for
// Args = Scalar (f and b at the element type, second as a double).
template <class T, class F>
T apply_f(F f, T x, NoArgs) { return f(x); }
template <class T, class F>
T apply_f(F f, T x, const Scalar& a) { return f(x, static_cast<T>(a.s)); }
template <class T, class B>
T apply_b(B b, T g, T x, T y, NoArgs) { return b(g, x, y); }
template <class T, class B>
T apply_b(B b, T g, T x, T y, const Scalar& a) { return b(g, x, y, static_cast<T>(a.s)); }
template <class S>
Second apply_second(S s, const Tensor& t, const Tensor& x, const Tensor& y, NoArgs) { return s(t, x, y); }
template <class S>
Second apply_second(S s, const Tensor& t, const Tensor& x, const Tensor& y, const Scalar& a) { return s(t, x, y, a.s); }

// f and b as the functors of a kernel's loop (ops/kernel.h), the scalar argument read from it.
template <class Args, class F>
struct ForwardFunctor {
  ArgsOrNone<Args> a{};
  explicit ForwardFunctor(const Kernel& k) {
    if constexpr (!std::is_void_v<Args>) a.s = k.scalar;
  }
  template <class T>
  T operator()(T x) const { return apply_f(F{}, x, a); }
};
template <class Args, class B>
struct BackwardFunctor {
  ArgsOrNone<Args> a{};
  explicit BackwardFunctor(const Kernel& k) {
    if constexpr (!std::is_void_v<Args>) a.s = k.scalar;
  }
  template <class T>
  T operator()(T g, T x, T y) const { return apply_b(B{}, g, x, y, a); }
};
// The kernel of an elementwise op at the call that gave `out`: Loop<T, Functor> over its elements.
template <template <class, class> class Loop, template <class, class> class One, class Functor, class Args>
Kernel elementwise_plan(const ArgsOrNone<Args>& a, const Tensor& out) {
  Kernel k;
  k.size[0] = impl_of(out)->numel;
  if constexpr (!std::is_void_v<Args>) k.scalar = a.s;
  k.run = k.size[0] == 1 ? for_dtype<One, Functor>(impl_of(out)->dtype) : for_dtype<Loop, Functor>(impl_of(out)->dtype);
  k.grain = k.run && k.size[0] != 1 ? 1 : 0;  // MapLoop and Zip3Loop: element i from element i
  return k;
}

// An op's forward and backward as the function pointers OpSpec<Args> takes, from stateless
// callables written once for both kinds of Args.
template <class Args, class Fn>
typename OpFunctions<Args>::Forward forward_of(Fn) {
  if constexpr (std::is_void_v<Args>) return [](Inputs in) { return Fn{}(in, NoArgs{}); };
  else return [](Inputs in, Args& a) { return Fn{}(in, static_cast<const Args&>(a)); };
}
template <class Args, class Fn>
typename OpFunctions<Args>::Plan plan_of(Fn) {
  if constexpr (std::is_void_v<Args>) return [](Inputs in, const Tensor& out) { return Fn{}(in, NoArgs{}, out); };
  else return [](Inputs in, const Args& a, const Tensor& out) { return Fn{}(in, a, out); };
}
template <class Args, class Fn>
typename OpFunctions<Args>::Backward backward_of(Fn) {
  if constexpr (std::is_void_v<Args>) return [](BackwardContext& c) { Fn{}(c, NoArgs{}); };
  else return [](BackwardContext& c, const Args& a) { Fn{}(c, a); };
}

// The elementwise op y = f(x) (Args = void) or y = f(x; s) (Args = Scalar) and its backward op
// `<name>_backward`, from f, b (the input gradient b(g, x, y[, s])) and second (the second
// derivative's terms, second(t, x, y[, s])); `varies` names the inputs second depends on.
// The forward's backward calls the backward op once: in a plain pass that just runs b's fused
// loop, under create_graph it records a node whose backward is `second`.
template <class Args, class F, class B, class S>
struct PointwiseBackward {  // one per op: F, B and S are the op's own lambda types
  static inline const Op<Args>* op = nullptr;
  static inline const char* name = nullptr;
};
template <class Args = void, class F, class B, class S>
OpSpec<Args> pointwise(const char* name, F, B, S, Varies varies, std::vector<Sample<Args>> samples) {
  using Backward = PointwiseBackward<Args, F, B, S>;
  Backward::name = backward_name(name);
  Backward::op = new Op<Args>(OpSpec<Args>{
      .name = Backward::name,
      .forward = forward_of<Args>([](Inputs in, const ArgsOrNone<Args>& a) {
        check_backward_inputs_fast(Backward::name, in);
        return zip3(in[0], in[1], in[2], [a](auto g, auto x, auto y) { return apply_b(B{}, g, x, y, a); });
      }),
      .backward = backward_of<Args>([](BackwardContext& c, const ArgsOrNone<Args>& a) {
        if (c.needs_grad(0)) c.accumulate(0, (*Backward::op)({c.grad(), c.input(1), c.input(2)}, a));
        if (!c.needs_grad(1) && !c.needs_grad(2)) return;
        const Second d = apply_second(S{}, c.grad() * c.input(0), c.input(1), c.input(2), a);
        if (d.dx.defined()) c.accumulate(1, d.dx);
        if (d.dy.defined()) c.accumulate(2, d.dy);
      }),
      .samples = backward_samples<Args>(samples, varies, [](const Tensor& x, const ArgsOrNone<Args>& a) {
        return map(x, [a](auto v) { return apply_f(F{}, v, a); });
      }),
      .plan = plan_of<Args>([](Inputs, const ArgsOrNone<Args>& a, const Tensor& out) {
        return elementwise_plan<Zip3Loop, Zip3One, BackwardFunctor<Args, B>, Args>(a, out);
      })});
  return {.name = name,
          .forward = forward_of<Args>([](Inputs in, const ArgsOrNone<Args>& a) {
            return map(in[0], [a](auto x) { return apply_f(F{}, x, a); });
          }),
          .backward = backward_of<Args>([](BackwardContext& c, const ArgsOrNone<Args>& a) {
            const Tensor y = c.output();
            c.accumulate(0, (*Backward::op)({c.grad(), c.input(0), y}, a));
          }),
          .samples = std::move(samples),
          .plan = plan_of<Args>([](Inputs, const ArgsOrNone<Args>& a, const Tensor& out) {
            return elementwise_plan<MapLoop, MapOne, ForwardFunctor<Args, F>, Args>(a, out);
          })};
}

}  // namespace tapegrad::detail
