// Elementwise ops: each forward beside its backward, then its registry entry.
#include <cmath>
#include <cstring>

#include "ops/pointwise.h"

namespace tapegrad {

using namespace detail;

Shape detail::broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out = Shape::filled(rank, 1);  // inline storage: no heap allocation up to rank 4
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(std::string(op) + ": shapes " + a.str() + " and " + b.str() + " cannot be broadcast (dimension " +
                  std::to_string(i) + ": " + std::to_string(da) + " vs " + std::to_string(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void detail::throw_dtypes_differ(const char* op, const Tensor& a, const Tensor& b) {
  throw Error(std::string(op) + ": dtypes differ: " + a.shape().str() + " " + std::string(dtype_name(a.dtype())) +
              " and " + b.shape().str() + " " + std::string(dtype_name(b.dtype())) + " (convert one with to(Dtype))");
}

size_t detail::normalize_axis(const char* op, int64_t axis, const Shape& shape) {
  const int64_t r = static_cast<int64_t>(shape.size());
  if (axis < -r || axis >= r)
    throw Error(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for shape " + shape.str() +
                " (rank " + std::to_string(r) + ")");
  return static_cast<size_t>(axis < 0 ? axis + r : axis);
}

void detail::check_backward_inputs(const char* op, Inputs in) {
  for (size_t k = 1; k < 3; ++k) {
    same_dtype(op, in[0], in[k]);
    if (in[k].shape() != in[0].shape())
      throw Error(std::string(op) + ": the gradient, input and output must have one shape, got " + in[0].shape().str() +
                  " and " + in[k].shape().str() + " (input " + std::to_string(k) + ")");
  }
}

void detail::elements_near_zero(const Tensor& x, double eps, std::vector<ElementRef>& out) {
  const std::vector<double> v = x.detach().to(Dtype::f64).to_vector<double>();
  for (size_t k = 0; k < v.size(); ++k)
    if (std::abs(v[k]) <= eps) out.push_back({0, static_cast<int64_t>(k)});
}

// The four arithmetic functors, shared by each op's forward and its kernel form.
#define TG_BINARY_FUNCTOR(Name, expr)                     \
  struct Name {                                          \
    Name() = default;                                    \
    explicit Name(const Kernel&) {}                      \
    template <class T>                                   \
    T operator()(T x, T y) const { return expr; }        \
  };
TG_BINARY_FUNCTOR(AddF, x + y)
TG_BINARY_FUNCTOR(SubF, x - y)
TG_BINARY_FUNCTOR(MulF, x * y)
TG_BINARY_FUNCTOR(DivF, x / y)
#undef TG_BINARY_FUNCTOR

// ---- add ----
static const Op<void> kAdd({.name = "add",
                            .forward = [](Inputs in) { return broadcast_zip("add", in[0], in[1], AddF{}); },
                            .backward =
                                [](BackwardContext& c) {
                                  if (c.needs_grad(1)) c.accumulate(1, c.needs_grad(0) ? Tensor(c.grad()) : c.take_grad());
                                  c.accumulate(0, c.take_grad());
                                },
                            .samples = {{.inputs = binary_inputs()}},
                            .plan = zip_plan<AddF>});
Tensor add(const Tensor& a, const Tensor& b) { return kAdd({a, b}); }

// ---- sub ----
static const Op<void> kSub({.name = "sub",
                            .forward = [](Inputs in) { return broadcast_zip("sub", in[0], in[1], SubF{}); },
                            .backward =
                                [](BackwardContext& c) {
                                  if (c.needs_grad(1)) c.accumulate(1, neg(c.grad()));
                                  c.accumulate(0, c.take_grad());
                                },
                            .samples = {{.inputs = binary_inputs()}},
                            .plan = zip_plan<SubF>});
Tensor sub(const Tensor& a, const Tensor& b) { return kSub({a, b}); }

// ---- mul: each input's gradient is the upstream times the other input ----
static const Op<void> kMul({.name = "mul",
                            .forward = [](Inputs in) { return broadcast_zip("mul", in[0], in[1], MulF{}); },
                            .backward =
                                [](BackwardContext& c) {
                                  if (c.needs_grad(0)) c.accumulate(0, mul(c.grad(), c.input(1)));
                                  if (c.needs_grad(1)) c.accumulate(1, mul(c.grad(), c.input(0)));
                                },
                            .samples = {{.inputs = binary_inputs()}},
                            .plan = zip_plan<MulF>});
Tensor mul(const Tensor& a, const Tensor& b) { return kMul({a, b}); }

// ---- div: d(a/b) = da / b - (a / b) db / b ----
static const Op<void> kDiv({.name = "div",
                            .forward = [](Inputs in) { return broadcast_zip("div", in[0], in[1], DivF{}); },
                            .backward =
                                [](BackwardContext& c) {
                                  if (c.needs_grad(0)) c.accumulate(0, div(c.grad(), c.input(1)));
                                  // -g (a / b) / b from the output: b * b would overflow or underflow
                                  // where the gradient itself is representable.
                                  // (Library ops, so that a create_graph pass records them.)
                                  if (c.needs_grad(1)) c.accumulate(1, neg(div(mul(c.grad(), c.output()), c.input(1))));
                                },
                            .samples = {{.inputs = div_inputs}},
                            .plan = zip_plan<DivF>});
Tensor div(const Tensor& a, const Tensor& b) { return kDiv({a, b}); }

// ---- scalar forms: one node each, the scalar kept in the node ----
struct AddScalarF {
  double s;
  explicit AddScalarF(double v) : s(v) {}
  explicit AddScalarF(const Kernel& k) : s(k.scalar) {}
  template <class T>
  T operator()(T x) const { return x + static_cast<T>(s); }
};
static const Op<Scalar> kAddScalar({.name = "add_scalar",
                                    .forward = [](Inputs in, Scalar& a) { return map(in[0], AddScalarF(a.s)); },
                                    .backward = [](BackwardContext& c, const Scalar&) { c.accumulate(0, c.take_grad()); },
                                    .samples = {{.label = "s=0.7", .args = {0.7}, .inputs = unary_inputs()}},
                                    .plan = [](Inputs, const Scalar& a, const Tensor& out) {
                                      return elementwise_plan<MapLoop, MapOne, AddScalarF, Scalar>(a, out);
                                    }});
Tensor add_scalar(const Tensor& a, double s) { return kAddScalar({a}, {s}); }

static const Op kMulScalar(pointwise<Scalar>("mul_scalar",
    [](auto x, auto s) { return x * s; },
    [](auto g, auto, auto, auto s) { return g * s; },
    [](const Tensor&, const Tensor&, const Tensor&, double) { return Second{}; }, Varies::none,
    {{.label = "s=-1.5", .args = {-1.5}, .inputs = unary_inputs()}}));
Tensor mul_scalar(const Tensor& a, double s) { return kMulScalar({a}, {s}); }

static const Op kDivScalar(pointwise<Scalar>("div_scalar",
    [](auto x, auto s) { return x / s; },
    [](auto g, auto, auto, auto s) { return g / s; },
    [](const Tensor&, const Tensor&, const Tensor&, double) { return Second{}; }, Varies::none,
    {{.label = "s=-0.8", .args = {-0.8}, .inputs = unary_inputs()}}));
Tensor div_scalar(const Tensor& a, double s) { return kDivScalar({a}, {s}); }

// d(s/x)/dx = -s / x^2, written -(s / x) / x from the output y = s / x, as div's.
static const Op kRdivScalar(pointwise<Scalar>("rdiv_scalar",
    [](auto x, auto s) { return s / x; },
    [](auto g, auto x, auto y, auto) { return -g * y / x; },
    [](const Tensor& t, const Tensor& x, const Tensor& y, double) { return Second{t * y / (x * x), -(t / x)}; },
    Varies::both,
    {{.label = "s=2", .args = {2.0}, .inputs = kink_inputs}}));
Tensor rdiv_scalar(double s, const Tensor& a) { return kRdivScalar({a}, {s}); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
Tensor operator+(double s, const Tensor& a) { return add_scalar(a, s); }
Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
Tensor operator-(double s, const Tensor& a) { return add_scalar(neg(a), s); }
Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }
Tensor operator/(const Tensor& a, double s) { return div_scalar(a, s); }
Tensor operator/(double s, const Tensor& a) { return rdiv_scalar(s, a); }
Tensor operator-(const Tensor& a) { return neg(a); }

// ---- unary ops: y = f(x), dy/dx ----
static const Op kNeg(pointwise("neg",
    [](auto x) { return -x; },
    [](auto g, auto, auto) { return -g; },
    [](const Tensor&, const Tensor&, const Tensor&) { return Second{}; }, Varies::none,
    {{.inputs = unary_inputs()}}));
Tensor neg(const Tensor& a) { return kNeg({a}); }

static const Op kExp(pointwise("exp",
    [](auto x) { return std::exp(x); },
    [](auto g, auto, auto y) { return g * y; },
    [](const Tensor& t, const Tensor&, const Tensor&) { return Second{.dy = t}; }, Varies::y,
    {{.inputs = unary_inputs()}}));
Tensor exp(const Tensor& x) { return kExp({x}); }

static const Op kLog(pointwise("log",
    [](auto x) { return std::log(x); },
    [](auto g, auto x, auto) { return g / x; },
    [](const Tensor& t, const Tensor& x, const Tensor&) { return Second{.dx = -(t / (x * x))}; }, Varies::x,
    {{.label = "positive", .inputs = unary_inputs(0.2, 3.0)}}));
Tensor log(const Tensor& x) { return kLog({x}); }

static const Op kSqrt(pointwise("sqrt",
    [](auto x) { return std::sqrt(x); },
    [](auto g, auto, auto y) { return g / (y + y); },
    [](const Tensor& t, const Tensor&, const Tensor& y) { return Second{.dy = t / (y * y) * -0.5}; }, Varies::y,
    {{.label = "positive", .inputs = unary_inputs(0.2, 3.0)}}));
Tensor sqrt(const Tensor& x) { return kSqrt({x}); }

// d(x^p)/dx = p x^(p-1); 0 for p = 0, also at x = 0 where x^(-1) is inf.
static const Op kPow(pointwise<Scalar>("pow",
    [](auto x, auto p) { return std::pow(x, p); },
    [](auto g, auto x, auto, auto p) { return p == 0 ? decltype(x)(0) : g * p * std::pow(x, p - 1); },
    [](const Tensor& t, const Tensor& x, const Tensor&, double p) {
      return p == 0 || p == 1 ? Second{} : Second{.dx = t * pow(x, p - 2) * (p * (p - 1))};
    },
    Varies::x,
    {{.label = "p=3 (any sign)", .args = {3.0}, .inputs = unary_inputs()},
     {.label = "p=-1.5 (positive base)", .args = {-1.5}, .inputs = unary_inputs(0.5, 2.0)}}));
Tensor pow(const Tensor& x, double p) { return kPow({x}, {p}); }

static const Op kSquare(pointwise("square",
    [](auto x) { return x * x; },
    [](auto g, auto x, auto) { return g * (x + x); },
    [](const Tensor& t, const Tensor&, const Tensor&) { return Second{.dx = t * 2.0}; }, Varies::x,
    {{.inputs = unary_inputs()}}));
Tensor square(const Tensor& x) { return kSquare({x}); }

// Subgradient 0 at 0.
static const Op kAbs(kink_at_zero(pointwise("abs",
    [](auto x) { return std::abs(x); },
    [](auto g, auto x, auto) { return x > 0 ? g : (x < 0 ? -g : decltype(g)(0)); },
    [](const Tensor&, const Tensor&, const Tensor&) { return Second{}; }, Varies::none,
    {{.label = "away from 0", .inputs = kink_inputs}})));
Tensor abs(const Tensor& x) { return kAbs({x}); }

// Never exponentiates a large positive number.
static const Op kSigmoid(pointwise("sigmoid",
    [](auto v) {
      using T = decltype(v);
      if (v >= 0) return T(1) / (T(1) + std::exp(-v));
      T e = std::exp(v);
      return e / (T(1) + e);
    },
    [](auto g, auto, auto y) { return g * y * (1 - y); },
    [](const Tensor& t, const Tensor&, const Tensor& y) { return Second{.dy = t * (1.0 - 2.0 * y)}; }, Varies::y,
    {{.inputs = unary_inputs(-4, 4)}}));
Tensor sigmoid(const Tensor& x) { return kSigmoid({x}); }

// min(x, 0) - log1p(exp(-|x|)); the derivative is sigmoid(-x), computed without overflow.
static const Op kLogSigmoid(pointwise("log_sigmoid",
    [](auto v) { return std::min(v, decltype(v)(0)) - std::log1p(std::exp(-std::abs(v))); },
    [](auto g, auto x, auto) {
      using T = decltype(x);
      return g * (x >= 0 ? std::exp(-x) / (T(1) + std::exp(-x)) : T(1) / (T(1) + std::exp(x)));
    },
    [](const Tensor& t, const Tensor& x, const Tensor&) {
      const Tensor s = sigmoid(-x);
      return Second{.dx = -(t * s * (1.0 - s))};
    },
    Varies::x,
    {{.inputs = unary_inputs(-4, 4)}}));
Tensor log_sigmoid(const Tensor& x) { return kLogSigmoid({x}); }

static const Op kTanh(pointwise("tanh",
    [](auto x) { return std::tanh(x); },
    [](auto g, auto, auto y) { return g * (1 - y * y); },
    [](const Tensor& t, const Tensor&, const Tensor& y) { return Second{.dy = t * y * -2.0}; }, Varies::y,
    {{.inputs = unary_inputs()}}));
Tensor tanh(const Tensor& x) { return kTanh({x}); }

// The gradient at 0 is 0. Written x < 0 ? 0 : x, not x > 0 ? x : 0, so that NaN stays NaN; the
// gradient likewise as x <= 0 ? 0 : g, so that at NaN it passes g, as PyTorch's threshold_backward.
static const Op kRelu(kink_at_zero(pointwise("relu",
    [](auto x) { return x < 0 ? decltype(x)(0) : x; },
    [](auto g, auto x, auto) { return x <= 0 ? decltype(g)(0) : g; },
    [](const Tensor&, const Tensor&, const Tensor&) { return Second{}; }, Varies::none,
    {{.label = "away from 0", .inputs = kink_inputs}})));
Tensor relu(const Tensor& x) { return kRelu({x}); }

// The gradient at and below 0 is the slope.
static const Op kLeakyRelu(kink_at_zero(pointwise<Scalar>("leaky_relu",
    [](auto x, auto slope) { return x > 0 ? x : x * slope; },
    [](auto g, auto x, auto, auto slope) { return x > 0 ? g : g * slope; },
    [](const Tensor&, const Tensor&, const Tensor&, double) { return Second{}; }, Varies::none,
    {{.label = "slope=0.1", .args = {0.1}, .inputs = kink_inputs}})));
Tensor leaky_relu(const Tensor& x, double slope) { return kLeakyRelu({x}, {slope}); }

// ---- dtype conversion: the gradient is converted back ----
struct ToDtypeArgs {
  Dtype dtype;
};
static const Op<ToDtypeArgs> kToDtype(
    {.name = "to_dtype",
     .forward =
         [](Inputs in, ToDtypeArgs& a) {
           Tensor out = make_tensor(in[0].shape(), a.dtype, "to_dtype");
           dispatch_any(a.dtype, [&](auto tag) {
             using T = decltype(tag);
             T* o = ptr<T>(out);
             dispatch_any(in[0].dtype(), [&](auto stag) {
               using S = decltype(stag);
               const S* x = ptr<S>(in[0]);
               for (int64_t k = 0, n = out.numel(); k < n; ++k) o[k] = convert_element<T>(x[k], "to_dtype", k);
             });
           });
           return out;
         },
     .backward = [](BackwardContext& c, const ToDtypeArgs&) { c.accumulate(0, c.grad().to(c.input(0).dtype())); },
     // A round trip through the other dtype: both conversions are recorded, and the output keeps
     // the input's dtype. The step is larger because float32 rounding swamps a 1e-6 difference.
     .samples = {{.label = "round trip",
                  .inputs = unary_inputs(),
                  .eps = 1e-3,
                  .call = [](const std::vector<Tensor>& in) {
                    // An undefined input reaches to_dtype, which names itself.
                    const Dtype mine = in[0].defined() ? in[0].dtype() : Dtype::f32;
                    const Tensor there = to_dtype(in[0], mine == Dtype::f32 ? Dtype::f64 : Dtype::f32);
                    return to_dtype(there, mine);
                  }}},
     .int64_inputs = 1,
     .bf16_inputs = 1});
// Always a copy, as documented, even to the same dtype (a write into it must not reach x);
// Tensor::to shares the tensor instead, as its documentation and PyTorch's .to() say.
// An int64 result carries no gradient (as in PyTorch): the conversion is not recorded. Nor does a
// bfloat16 one: tapegrad computes in float32 and float64 (autocast's products round their operands
// to bfloat16 inside, and their gradients flow in float32).
Tensor to_dtype(const Tensor& x, Dtype dtype) {
  defined("to_dtype", x);
  if ((dtype == Dtype::i64 || dtype == Dtype::bf16) && x.requires_grad()) {
    GradMode no_recording(false);
    return kToDtype({x}, {dtype});
  }
  return kToDtype({x}, {dtype});
}
Tensor Tensor::to(Dtype d) const {
  detail::defined("to_dtype", *this);
  if (dtype() == d) return *this;
  return to_dtype(*this, d);
}

// ---- clone: a copy with its own storage, through which the gradient passes unchanged ----
static const Op<void> kClone({.name = "clone",
                              .forward = [](Inputs in) { return copy_of(in[0]); },
                              .backward = [](BackwardContext& c) { c.accumulate(0, c.take_grad()); },
                              .samples = {{.inputs = unary_inputs()}},
                              .plan = [](Inputs in, const Tensor&) {
                                const TensorImpl& x = *impl_of(in[0]);
                                Kernel k;
                                k.size[0] = x.numel * static_cast<int64_t>(dtype_size(x.dtype));
                                k.run = [](const Kernel& k, const void* const* in, void* out) {
                                  std::memcpy(out, in[0], static_cast<size_t>(k.size[0]));
                                };
                                return k;
                              },
                              .int64_inputs = 1,  // a copy of indices
                              .bf16_inputs = 1});
Tensor Tensor::clone() const {
  if (!defined()) throw Error("clone: the tensor is undefined (default-constructed)");
  return kClone({*this});
}

// ---- masks (not recorded, but ops: a compiled step replays them) ----
namespace {
struct Threshold {
  double s = 0;
};
}  // namespace
static const Op<void> kGreater({.name = "greater",
                                .forward = [](Inputs in) {
                                  return broadcast_zip("greater", in[0], in[1], [](auto x, auto y) { return x > y ? decltype(x)(1) : decltype(x)(0); });
                                },
                                .samples = {{.inputs = binary_inputs()}},
                                .recorded = false});
static const Op<void> kLess({.name = "less",
                             .forward = [](Inputs in) {
                               return broadcast_zip("less", in[0], in[1], [](auto x, auto y) { return x < y ? decltype(x)(1) : decltype(x)(0); });
                             },
                             .samples = {{.inputs = binary_inputs()}},
                             .recorded = false});
static const Op<void> kEqual({.name = "equal",
                              .forward = [](Inputs in) {
                                return broadcast_zip("equal", in[0], in[1], [](auto x, auto y) { return x == y ? decltype(x)(1) : decltype(x)(0); });
                              },
                              .samples = {{.inputs = binary_inputs()}},
                              .recorded = false});
static const Op<Threshold> kGreaterThan({.name = "greater",
                                         .forward = [](Inputs in, Threshold& a) {
                                           const double s = a.s;
                                           return map(in[0], [s](auto x) { return x > s ? decltype(x)(1) : decltype(x)(0); });
                                         },
                                         .recorded = false});
static const Op<Threshold> kLessThan({.name = "less",
                                      .forward = [](Inputs in, Threshold& a) {
                                        const double s = a.s;
                                        return map(in[0], [s](auto x) { return x < s ? decltype(x)(1) : decltype(x)(0); });
                                      },
                                      .recorded = false});
Tensor greater(const Tensor& a, const Tensor& b) { return kGreater({a, b}); }
Tensor less(const Tensor& a, const Tensor& b) { return kLess({a, b}); }
Tensor equal(const Tensor& a, const Tensor& b) { return kEqual({a, b}); }
Tensor greater(const Tensor& a, double s) {
  defined("greater", a);
  return kGreaterThan({a}, {s});
}
Tensor less(const Tensor& a, double s) {
  defined("less", a);
  return kLessThan({a}, {s});
}

}  // namespace tapegrad
