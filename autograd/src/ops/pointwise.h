#pragma once
// Private to the op files: the y = f(x) op builders and the sample inputs shared by the
// elementwise families (ops/elementwise.cpp, ops/math.cpp, ops/activation.cpp, ops/compare.cpp).
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

// y = f(x) elementwise, whose input gradient is b(g, x, y) for the upstream gradient g (the
// chain rule written out, as in derivatives.yaml): the forward and the backward are one fused
// loop each. An elementwise op is its declaration plus one of these.
template <class F, class B>
OpSpec<void> pointwise(const char* name, F, B, std::vector<Sample<void>> samples) {
  return {.name = name,
          .forward = [](Inputs in) { return map(in[0], F{}); },
          .backward =
              [](BackwardContext& c) {
                c.accumulate(0, pointwise_grad(c, [](auto g, auto x, auto y) { return B{}(g, x, y); }));
              },
          .samples = std::move(samples)};
}

// The same for y = f(x; s) with a scalar argument s.
struct Scalar {
  double s;
};
template <class F, class B>
OpSpec<Scalar> pointwise_scalar(const char* name, F, B, std::vector<Sample<Scalar>> samples) {
  return {.name = name,
          .forward = [](Inputs in, Scalar& a) {
            return map(in[0], [s = a.s](auto x) { return F{}(x, static_cast<decltype(x)>(s)); });
          },
          .backward =
              [](BackwardContext& c, const Scalar& a) {
                c.accumulate(0, pointwise_grad(c, [s = a.s](auto g, auto x, auto y) {
                               return B{}(g, x, y, static_cast<decltype(x)>(s));
                             }));
              },
          .samples = std::move(samples)};
}

}  // namespace tapegrad::detail
