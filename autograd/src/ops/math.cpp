// The math library, elementwise: trigonometric and hyperbolic functions, the log and exp
// family, reciprocals, sign, and pow with a tensor exponent. Each forward beside its backward.
#include <cmath>

#include "ops/pointwise.h"

namespace tapegrad {

using namespace detail;

// ---- trigonometric ----
static const Op kSin(pointwise("sin", [](auto x) { return std::sin(x); }, [](auto g, auto x, auto) { return g * std::cos(x); },
                               [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = -(t * sin(x))}; }, Varies::x,
    {{.inputs = unary_inputs(-3, 3)}}));
Tensor sin(const Tensor& x) { return kSin({x}); }

static const Op kCos(pointwise("cos", [](auto x) { return std::cos(x); }, [](auto g, auto x, auto) { return -g * std::sin(x); },
                               [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = -(t * cos(x))}; }, Varies::x,
    {{.inputs = unary_inputs(-3, 3)}}));
Tensor cos(const Tensor& x) { return kCos({x}); }

// d tan = 1 + tan^2, from the output.
static const Op kTan(pointwise("tan", [](auto x) { return std::tan(x); }, [](auto g, auto, auto y) { return g * (1 + y * y); },
                               [](const Tensor& t, const Tensor&, const Tensor& y) { return Second{.dy = t * y * 2.0}; }, Varies::y,
    {{.label = "|x| < 1.2", .inputs = unary_inputs(-1.2, 1.2)}}));
Tensor tan(const Tensor& x) { return kTan({x}); }

// d asin = 1 / sqrt(1 - x^2): infinite at +-1, NaN beyond (as the forward).
static const Op kAsin(pointwise("asin", [](auto x) { return std::asin(x); },
                                [](auto g, auto x, auto) { return g / std::sqrt((1 - x) * (1 + x)); },
                                [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = t * x * pow((1.0 - x) * (1.0 + x), -1.5)}; }, Varies::x,
    {{.label = "|x| < 0.9", .inputs = unary_inputs(-0.9, 0.9)}}));
Tensor asin(const Tensor& x) { return kAsin({x}); }

static const Op kAcos(pointwise("acos", [](auto x) { return std::acos(x); },
                                [](auto g, auto x, auto) { return -g / std::sqrt((1 - x) * (1 + x)); },
                                [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = -(t * x * pow((1.0 - x) * (1.0 + x), -1.5))}; }, Varies::x,
    {{.label = "|x| < 0.9", .inputs = unary_inputs(-0.9, 0.9)}}));
Tensor acos(const Tensor& x) { return kAcos({x}); }

static const Op kAtan(pointwise("atan", [](auto x) { return std::atan(x); }, [](auto g, auto x, auto) { return g / (1 + x * x); },
                                [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = t * x * -2.0 / square(1.0 + x * x)}; }, Varies::x,
    {{.inputs = unary_inputs(-3, 3)}}));
Tensor atan(const Tensor& x) { return kAtan({x}); }

// ---- hyperbolic ----
static const Op kSinh(pointwise("sinh", [](auto x) { return std::sinh(x); }, [](auto g, auto x, auto) { return g * std::cosh(x); },
                                [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = t * sinh(x)}; }, Varies::x,
    {{.inputs = unary_inputs()}}));
Tensor sinh(const Tensor& x) { return kSinh({x}); }

static const Op kCosh(pointwise("cosh", [](auto x) { return std::cosh(x); }, [](auto g, auto x, auto) { return g * std::sinh(x); },
                                [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = t * cosh(x)}; }, Varies::x,
    {{.inputs = unary_inputs()}}));
Tensor cosh(const Tensor& x) { return kCosh({x}); }

// ---- log and exp family: log1p and expm1 keep their digits near 0, where log(1 + x) and
// exp(x) - 1 lose them to the rounding of 1 + x ----
static const Op kLog1p(pointwise("log1p", [](auto x) { return std::log1p(x); }, [](auto g, auto x, auto) { return g / (1 + x); },
                                 [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = -(t / square(1.0 + x))}; }, Varies::x,
    {{.label = "x > -0.8", .inputs = unary_inputs(-0.8, 3.0)}}));
Tensor log1p(const Tensor& x) { return kLog1p({x}); }

// d expm1 = e^x = y + 1.
static const Op kExpm1(pointwise("expm1", [](auto x) { return std::expm1(x); }, [](auto g, auto, auto y) { return g * (y + 1); },
                                 [](const Tensor& t, const Tensor&, const Tensor&) { return Second{.dy = t}; }, Varies::y,
    {{.inputs = unary_inputs()}}));
Tensor expm1(const Tensor& x) { return kExpm1({x}); }

static const Op kLog2(pointwise("log2", [](auto x) { return std::log2(x); },
                                [](auto g, auto x, auto) { return g / (x * static_cast<decltype(x)>(M_LN2)); },
                                [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = -(t / (x * x)) / M_LN2}; }, Varies::x,
    {{.label = "positive", .inputs = unary_inputs(0.2, 3.0)}}));
Tensor log2(const Tensor& x) { return kLog2({x}); }

// ---- reciprocals ----
// d x^(-1/2) = -y^3 / 2, from the output.
static const Op kRsqrt(pointwise("rsqrt", [](auto x) { return 1 / std::sqrt(x); },
                                 [](auto g, auto, auto y) { return g * y * y * y * static_cast<decltype(y)>(-0.5); },
                                 [](const Tensor& t, const Tensor&, const Tensor& y) { return Second{.dy = t * y * y * -1.5}; }, Varies::y,
    {{.label = "positive", .inputs = unary_inputs(0.2, 3.0)}}));
Tensor rsqrt(const Tensor& x) { return kRsqrt({x}); }

// d (1/x) = -y^2, from the output.
static const Op kReciprocal(pointwise("reciprocal", [](auto x) { return 1 / x; }, [](auto g, auto, auto y) { return -g * y * y; },
                                      [](const Tensor& t, const Tensor&, const Tensor& y) { return Second{.dy = t * y * -2.0}; }, Varies::y,
    {{.label = "away from 0", .inputs = kink_inputs}}));
Tensor reciprocal(const Tensor& x) { return kReciprocal({x}); }

// -1, 0 or 1, NaN for NaN; its gradient is 0 everywhere (the subgradient at the jump, as PyTorch).
static const Op kSign(pointwise("sign", [](auto x) { return x > 0 ? decltype(x)(1) : (x < 0 ? decltype(x)(-1) : x); },
                                [](auto g, auto, auto) { return g * 0; },  // an upstream NaN stays NaN
                                [](const Tensor&, const Tensor&, const Tensor&) { return Second{}; }, Varies::none,
    {{.label = "away from 0", .inputs = kink_inputs, .zero_gradient = true}}));
Tensor sign(const Tensor& x) { return kSign({x}); }

// ---- pow with a tensor exponent: d/dx = y x^(y-1), d/dy = x^y log x ----
// The exponent's gradient at x = 0 is 0 where x^y is 0 (y > 0), not 0 * -inf = NaN, as PyTorch.
// Each is an op of its own (PyTorch's pow_backward_self and pow_backward_exponent), with the
// result broadcast to the shape of g; its second derivatives are written with library ops.
namespace {
// Positive bases, exponents on both sides of 0 and 1, in the broadcast shapes of binary ops.
Samples pow_inputs(Dtype d, Generator& g) {
  auto base = [&](const Shape& s) { return samples::uniform(s, 0.3, 2.0, d, g); };
  auto power = [&](const Shape& s) { return samples::uniform(s, -1.5, 2.5, d, g); };
  return Samples{{{base({2, 3}), power({2, 3})}, "same shape"},
                 {{base({3, 1}), power({4})}, "broadcast [3,1] with [4]"},
                 {{base({2, 3}), power({})}, "rank-0 exponent"}};
}
// The backward ops' samples: (g, x, y) for the base's, (g, x, x^y) for the exponent's.
template <bool Exponent>
Samples pow_grad_inputs(Dtype d, Generator& g) {
  Samples out = pow_inputs(d, g);
  for (OpSample& s : out) {
    const Tensor x = s.inputs[0], y = s.inputs[1];
    const Tensor z = pow(x, y);
    s.inputs = {samples::normal(z.shape(), d, g), x, Exponent ? z : y};
  }
  return out;
}
}  // namespace

// pow_backward_self(g, x, y) = g y x^(y-1), 0 where y = 0 (x^0 is constant, even at x = 0).
static const Op<void> kPowBackwardSelf(
    {.name = "pow_backward_self",
     .forward =
         [](Inputs in) {
           Tensor gy = broadcast_zip("pow_backward_self", in[0], in[2], [](auto g, auto p) { return g * p; });
           return broadcast_zip("pow_backward_self", gy, broadcast_zip("pow_backward_self", in[1], in[2], [](auto b, auto p) {
                                  return p == 0 ? decltype(b)(0) : std::pow(b, p - 1);
                                }),
                                [](auto u, auto v) { return u * v; });
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor &g = c.input(0), &x = c.input(1), &y = c.input(2), &gg = c.grad();
           const Tensor zero = zeros_like(gg);
           if (c.needs_grad(0)) c.accumulate(0, kPowBackwardSelf({gg, x, y}));
           if (!c.needs_grad(1) && !c.needs_grad(2)) return;
           const Tensor y0 = equal(y, zeros_like(y));
           const Tensor t = gg * g;
           if (c.needs_grad(1)) c.accumulate(1, where(y0, zero, t * y * (y - 1.0) * pow(x, y - 2.0)));
           if (c.needs_grad(2)) c.accumulate(2, where(y0, zero, t * pow(x, y - 1.0) * (1.0 + y * log(x))));
         },
     .samples = {{.label = "positive base", .inputs = pow_grad_inputs<false>}}});

// pow_backward_exponent(g, x, z) = g z log x for z = x^y, 0 where x = 0 and z = 0 (y > 0). The
// chain through z = pow(x, y) is the tape's: z is the forward's recorded output.
static const Op<void> kPowBackwardExponent(
    {.name = "pow_backward_exponent",
     .forward =
         [](Inputs in) {
           Tensor logx = broadcast_zip("pow_backward_exponent", in[1], in[2], [](auto b, auto out) {
             return b == 0 && out == 0 ? decltype(b)(0) : out * std::log(b);
           });
           return broadcast_zip("pow_backward_exponent", in[0], logx, [](auto g, auto l) { return g * l; });
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor &g = c.input(0), &x = c.input(1), &z = c.input(2), &gg = c.grad();
           const Tensor zero = zeros_like(gg);
           if (c.needs_grad(0)) c.accumulate(0, kPowBackwardExponent({gg, x, z}));
           if (!c.needs_grad(1) && !c.needs_grad(2)) return;
           const Tensor flat = equal(x, zeros_like(x)) * equal(z, zeros_like(z));
           const Tensor t = gg * g;
           if (c.needs_grad(1)) c.accumulate(1, where(flat, zero, t * z / x));
           if (c.needs_grad(2)) c.accumulate(2, where(flat, zero, t * log(x)));
         },
     .samples = {{.label = "positive base", .inputs = pow_grad_inputs<true>}}});

static const Op<void> kPowTensor(
    {.name = "pow",
     .forward = [](Inputs in) { return broadcast_zip("pow", in[0], in[1], [](auto x, auto y) { return std::pow(x, y); }); },
     .backward =
         [](BackwardContext& c) {
           if (c.needs_grad(0)) c.accumulate(0, kPowBackwardSelf({c.grad(), c.input(0), c.input(1)}));
           if (c.needs_grad(1)) {
             const Tensor z = c.output();
             c.accumulate(1, kPowBackwardExponent({c.grad(), c.input(0), z}));
           }
         },
     .samples = {{.label = "tensor exponent, positive base", .inputs = pow_inputs}}});
Tensor pow(const Tensor& x, const Tensor& y) { return kPowTensor({x, y}); }

}  // namespace tapegrad
