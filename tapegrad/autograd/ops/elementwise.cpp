// Elementwise ops: each forward beside its backward, then its registry entry.
#include <cmath>

#include "tapegrad/autograd/ops/kernels.h"
#include "tapegrad/autograd/registry.h"

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

size_t detail::normalize_axis(const char* op, int64_t axis, const Shape& shape) {
  const int64_t r = static_cast<int64_t>(shape.size());
  if (axis < -r || axis >= r)
    throw Error(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for shape " + shape.str() +
                " (rank " + std::to_string(r) + ")");
  return static_cast<size_t>(axis < 0 ? axis + r : axis);
}

namespace {
using Samples = std::vector<OpSample>;

// Shapes that exercise broadcasting in both directions and the flat fast paths.
Samples binary_samples(Dtype d, Generator& g, double lo = -2, double hi = 2) {
  auto u = [&](const Shape& s) { return samples::uniform(s, lo, hi, d, g); };
  return {{{u({2, 3}), u({2, 3})}, "same shape"},
          {{u({3, 1}), u({4})}, "broadcast [3,1] with [4]"},
          {{u({2, 3}), u({})}, "tensor with rank-0"},
          {{u({}), u({2, 3})}, "rank-0 with tensor"},
          {{u({2, 1, 3}), u({1, 4, 1})}, "3-D broadcast both ways"}};
}
// Divisors kept away from zero.
Samples div_samples(Dtype d, Generator& g) {
  Samples s = binary_samples(d, g);
  for (OpSample& x : s) x.inputs[1] = samples::away_from(x.inputs[1].shape(), 0.0, 0.5, d, g);
  return s;
}
Samples unary_samples(Dtype d, Generator& g, double lo = -2, double hi = 2) {
  return {{{samples::uniform({2, 3}, lo, hi, d, g)}, "matrix"}, {{samples::uniform({}, lo, hi, d, g)}, "rank-0"}};
}
Samples kink_samples(Dtype d, Generator& g) {
  return {{{samples::away_from({2, 3}, 0.0, 0.1, d, g)}, "matrix away from 0"},
          {{samples::away_from({4}, 0.0, 0.1, d, g)}, "vector away from 0"}};
}
}  // namespace

// ---- add ----
static const OpDef kAdd{"add",
                        [](BackwardContext& c) {
                          if (c.needs_grad(1)) c.accumulate(1, c.needs_grad(0) ? Tensor(c.grad()) : c.take_grad());
                          c.accumulate(0, c.take_grad());
                        },
                        replay_binary<add>};
Tensor add(const Tensor& a, const Tensor& b) {
  return record(kAdd, broadcast_zip("add", a, b, [](auto x, auto y) { return x + y; }), {a, b});
}
static RegisterOp reg_add({"add", "", [](auto& in) { return add(in[0], in[1]); },
                           [](Dtype d, Generator& g) { return binary_samples(d, g); }});

// ---- sub ----
static const OpDef kSub{"sub",
                        [](BackwardContext& c) {
                          if (c.needs_grad(1)) c.accumulate(1, neg(c.grad()));
                          c.accumulate(0, c.take_grad());
                        },
                        replay_binary<sub>};
Tensor sub(const Tensor& a, const Tensor& b) {
  return record(kSub, broadcast_zip("sub", a, b, [](auto x, auto y) { return x - y; }), {a, b});
}
static RegisterOp reg_sub({"sub", "", [](auto& in) { return sub(in[0], in[1]); },
                           [](Dtype d, Generator& g) { return binary_samples(d, g); }});

// ---- mul: each input's gradient is the upstream times the other input ----
static const OpDef kMul{"mul",
                        [](BackwardContext& c) {
                          if (c.needs_grad(0)) c.accumulate(0, mul(c.grad(), c.input(1)));
                          if (c.needs_grad(1)) c.accumulate(1, mul(c.grad(), c.input(0)));
                        },
                        replay_binary<mul>};
Tensor mul(const Tensor& a, const Tensor& b) {
  return record(kMul, broadcast_zip("mul", a, b, [](auto x, auto y) { return x * y; }), {a, b});
}
static RegisterOp reg_mul({"mul", "", [](auto& in) { return mul(in[0], in[1]); },
                           [](Dtype d, Generator& g) { return binary_samples(d, g); }});

// ---- div: d(a/b) = da / b - a db / b^2 ----
static const OpDef kDiv{"div",
                        [](BackwardContext& c) {
                          if (c.needs_grad(0)) c.accumulate(0, div(c.grad(), c.input(1)));
                          if (c.needs_grad(1)) {
                            Tensor q = broadcast_zip("div", c.input(0), c.input(1),
                                                     [](auto a, auto b) { return -a / (b * b); });
                            c.accumulate(1, mul(c.grad(), q));
                          }
                        },
                        replay_binary<div>};
Tensor div(const Tensor& a, const Tensor& b) {
  return record(kDiv, broadcast_zip("div", a, b, [](auto x, auto y) { return x / y; }), {a, b});
}
static RegisterOp reg_div({"div", "", [](auto& in) { return div(in[0], in[1]); }, div_samples});

// ---- scalar forms: one node each, the scalar kept in the node ----
static const OpDef kAddScalar{"add_scalar", [](BackwardContext& c) { c.accumulate(0, c.take_grad()); },
                              [](const Node& n, const std::vector<Tensor>& in) {
                                return add_scalar(in[0], n.args.scalars[0]);
                              }};
Tensor add_scalar(const Tensor& a, double s) {
  defined("add_scalar", a);
  NodeArgs args;
  args.scalars[0] = s;
  return record(kAddScalar, map(a, [s](auto x) { return x + static_cast<decltype(x)>(s); }), {a}, std::move(args));
}
static RegisterOp reg_add_scalar({"add_scalar", "s=0.7", [](auto& in) { return add_scalar(in[0], 0.7); },
                                  [](Dtype d, Generator& g) { return unary_samples(d, g); }});

static const OpDef kMulScalar{"mul_scalar",
                              [](BackwardContext& c) { c.accumulate(0, mul_scalar(c.grad(), c.scalar(0))); },
                              [](const Node& n, const std::vector<Tensor>& in) {
                                return mul_scalar(in[0], n.args.scalars[0]);
                              }};
Tensor mul_scalar(const Tensor& a, double s) {
  defined("mul_scalar", a);
  NodeArgs args;
  args.scalars[0] = s;
  return record(kMulScalar, map(a, [s](auto x) { return x * static_cast<decltype(x)>(s); }), {a}, std::move(args));
}
static RegisterOp reg_mul_scalar({"mul_scalar", "s=-1.5", [](auto& in) { return mul_scalar(in[0], -1.5); },
                                  [](Dtype d, Generator& g) { return unary_samples(d, g); }});

static const OpDef kRdivScalar{"rdiv_scalar",
                               [](BackwardContext& c) {
                                 const double s = c.scalar(0);
                                 c.accumulate(0, zip(c.grad(), c.input(0), [s](auto g, auto x) {
                                                return -g * static_cast<decltype(x)>(s) / (x * x);
                                              }));
                               },
                               [](const Node& n, const std::vector<Tensor>& in) {
                                 return rdiv_scalar(n.args.scalars[0], in[0]);
                               }};
Tensor rdiv_scalar(double s, const Tensor& a) {
  defined("rdiv_scalar", a);
  NodeArgs args;
  args.scalars[0] = s;
  return record(kRdivScalar, map(a, [s](auto x) { return static_cast<decltype(x)>(s) / x; }), {a}, std::move(args));
}
static RegisterOp reg_rdiv_scalar({"rdiv_scalar", "s=2", [](auto& in) { return rdiv_scalar(2.0, in[0]); },
                                   [](Dtype d, Generator& g) { return kink_samples(d, g); }});

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
Tensor operator/(const Tensor& a, double s) { return mul_scalar(a, 1.0 / s); }
Tensor operator/(double s, const Tensor& a) { return rdiv_scalar(s, a); }
Tensor operator-(const Tensor& a) { return neg(a); }

// ---- neg ----
static const OpDef kNeg{"neg", [](BackwardContext& c) { c.accumulate(0, neg(c.grad())); }, replay_unary<neg>};
Tensor neg(const Tensor& a) {
  defined("neg", a);
  return record(kNeg, map(a, [](auto x) { return -x; }), {a});
}
static RegisterOp reg_neg({"neg", "", [](auto& in) { return neg(in[0]); },
                           [](Dtype d, Generator& g) { return unary_samples(d, g); }});

// ---- exp: the gradient is the output itself ----
static const OpDef kExp{"exp", [](BackwardContext& c) { c.accumulate(0, mul(c.grad(), c.output())); },
                        replay_unary<exp>};
Tensor exp(const Tensor& x) {
  defined("exp", x);
  return record(kExp, map(x, [](auto v) { return std::exp(v); }), {x});
}
static RegisterOp reg_exp({"exp", "", [](auto& in) { return exp(in[0]); },
                           [](Dtype d, Generator& g) { return unary_samples(d, g); }});

// ---- log ----
static const OpDef kLog{"log", [](BackwardContext& c) { c.accumulate(0, div(c.grad(), c.input(0))); },
                        replay_unary<log>};
Tensor log(const Tensor& x) {
  defined("log", x);
  return record(kLog, map(x, [](auto v) { return std::log(v); }), {x});
}
static RegisterOp reg_log({"log", "positive", [](auto& in) { return log(in[0]); },
                           [](Dtype d, Generator& g) { return unary_samples(d, g, 0.2, 3.0); }});

// ---- sqrt: d sqrt(x) = 1 / (2 sqrt(x)), from the saved output ----
static const OpDef kSqrt{"sqrt",
                         [](BackwardContext& c) {
                           c.accumulate(0, zip(c.grad(), c.output(), [](auto g, auto y) { return g / (y + y); }));
                         },
                         replay_unary<sqrt>};
Tensor sqrt(const Tensor& x) {
  defined("sqrt", x);
  return record(kSqrt, map(x, [](auto v) { return std::sqrt(v); }), {x});
}
static RegisterOp reg_sqrt({"sqrt", "positive", [](auto& in) { return sqrt(in[0]); },
                            [](Dtype d, Generator& g) { return unary_samples(d, g, 0.2, 3.0); }});

// ---- pow with a scalar exponent ----
static const OpDef kPow{"pow",
                        [](BackwardContext& c) {
                          const double p = c.scalar(0);
                          c.accumulate(0, zip(c.grad(), c.input(0), [p](auto g, auto x) {
                                         using T = decltype(x);
                                         return p == 0 ? T(0) : g * static_cast<T>(p) * std::pow(x, static_cast<T>(p - 1));
                                       }));
                        },
                        [](const Node& n, const std::vector<Tensor>& in) { return pow(in[0], n.args.scalars[0]); }};
Tensor pow(const Tensor& x, double p) {
  defined("pow", x);
  NodeArgs args;
  args.scalars[0] = p;
  return record(kPow, map(x, [p](auto v) { return std::pow(v, static_cast<decltype(v)>(p)); }), {x}, std::move(args));
}
static RegisterOp reg_pow({"pow", "p=3 (any sign)", [](auto& in) { return pow(in[0], 3.0); },
                           [](Dtype d, Generator& g) { return unary_samples(d, g); }});
static RegisterOp reg_pow_frac({"pow", "p=-1.5 (positive base)", [](auto& in) { return pow(in[0], -1.5); },
                                [](Dtype d, Generator& g) { return unary_samples(d, g, 0.5, 2.0); }});

// ---- square ----
static const OpDef kSquare{"square",
                           [](BackwardContext& c) {
                             c.accumulate(0, zip(c.grad(), c.input(0), [](auto g, auto x) { return g * (x + x); }));
                           },
                           replay_unary<square>};
Tensor square(const Tensor& x) {
  defined("square", x);
  return record(kSquare, map(x, [](auto v) { return v * v; }), {x});
}
static RegisterOp reg_square({"square", "", [](auto& in) { return square(in[0]); },
                              [](Dtype d, Generator& g) { return unary_samples(d, g); }});

// ---- abs: subgradient 0 at 0 ----
static const OpDef kAbs{"abs",
                        [](BackwardContext& c) {
                          c.accumulate(0, zip(c.grad(), c.input(0), [](auto g, auto x) {
                                         using T = decltype(x);
                                         return x > 0 ? g : (x < 0 ? -g : T(0));
                                       }));
                        },
                        replay_unary<abs>};
Tensor abs(const Tensor& x) {
  defined("abs", x);
  return record(kAbs, map(x, [](auto v) { return std::abs(v); }), {x});
}
static RegisterOp reg_abs({"abs", "away from 0", [](auto& in) { return abs(in[0]); }, kink_samples});

// ---- sigmoid: never exponentiates a large positive number; gradient y (1 - y) ----
static const OpDef kSigmoid{"sigmoid",
                            [](BackwardContext& c) {
                              c.accumulate(0, zip(c.grad(), c.output(), [](auto g, auto y) { return g * y * (1 - y); }));
                            },
                            replay_unary<sigmoid>};
Tensor sigmoid(const Tensor& x) {
  defined("sigmoid", x);
  return record(kSigmoid, map(x, [](auto v) {
                  using T = decltype(v);
                  if (v >= 0) return T(1) / (T(1) + std::exp(-v));
                  T e = std::exp(v);
                  return e / (T(1) + e);
                }),
                {x});
}
static RegisterOp reg_sigmoid({"sigmoid", "", [](auto& in) { return sigmoid(in[0]); },
                               [](Dtype d, Generator& g) { return unary_samples(d, g, -4, 4); }});

// ---- log_sigmoid: min(x, 0) - log1p(exp(-|x|)); gradient sigmoid(-x) ----
static const OpDef kLogSigmoid{"log_sigmoid",
                               [](BackwardContext& c) {
                                 c.accumulate(0, zip(c.grad(), c.input(0), [](auto g, auto x) {
                                                using T = decltype(x);
                                                T s = x >= 0 ? std::exp(-x) / (T(1) + std::exp(-x))
                                                             : T(1) / (T(1) + std::exp(x));
                                                return g * s;
                                              }));
                               },
                               replay_unary<log_sigmoid>};
Tensor log_sigmoid(const Tensor& x) {
  defined("log_sigmoid", x);
  return record(kLogSigmoid, map(x, [](auto v) {
                  using T = decltype(v);
                  return std::min(v, T(0)) - std::log1p(std::exp(-std::abs(v)));
                }),
                {x});
}
static RegisterOp reg_log_sigmoid({"log_sigmoid", "", [](auto& in) { return log_sigmoid(in[0]); },
                                   [](Dtype d, Generator& g) { return unary_samples(d, g, -4, 4); }});

// ---- tanh: gradient 1 - y^2 ----
static const OpDef kTanh{"tanh",
                         [](BackwardContext& c) {
                           c.accumulate(0, zip(c.grad(), c.output(), [](auto g, auto y) { return g * (1 - y * y); }));
                         },
                         replay_unary<tanh>};
Tensor tanh(const Tensor& x) {
  defined("tanh", x);
  return record(kTanh, map(x, [](auto v) { return std::tanh(v); }), {x});
}
static RegisterOp reg_tanh({"tanh", "", [](auto& in) { return tanh(in[0]); },
                            [](Dtype d, Generator& g) { return unary_samples(d, g); }});

// ---- relu: gradient 0 at 0 ----
static const OpDef kRelu{"relu",
                         [](BackwardContext& c) {
                           c.accumulate(0, zip(c.grad(), c.input(0), [](auto g, auto x) {
                                          return x > 0 ? g : decltype(g)(0);
                                        }));
                         },
                         replay_unary<relu>};
Tensor relu(const Tensor& x) {
  defined("relu", x);
  return record(kRelu, map(x, [](auto v) { return v > 0 ? v : decltype(v)(0); }), {x});
}
static RegisterOp reg_relu({"relu", "away from 0", [](auto& in) { return relu(in[0]); }, kink_samples});

// ---- leaky_relu: gradient `slope` at and below 0 ----
static const OpDef kLeakyRelu{"leaky_relu",
                              [](BackwardContext& c) {
                                const double s = c.scalar(0);
                                c.accumulate(0, zip(c.grad(), c.input(0), [s](auto g, auto x) {
                                               return x > 0 ? g : g * static_cast<decltype(g)>(s);
                                             }));
                              },
                              [](const Node& n, const std::vector<Tensor>& in) {
                                return leaky_relu(in[0], n.args.scalars[0]);
                              }};
Tensor leaky_relu(const Tensor& x, double slope) {
  defined("leaky_relu", x);
  NodeArgs args;
  args.scalars[0] = slope;
  return record(kLeakyRelu, map(x, [slope](auto v) { return v > 0 ? v : v * static_cast<decltype(v)>(slope); }), {x},
                std::move(args));
}
static RegisterOp reg_leaky_relu({"leaky_relu", "slope=0.1", [](auto& in) { return leaky_relu(in[0], 0.1); },
                                  kink_samples});

// ---- dtype conversion: the gradient is converted back ----
static const OpDef kToDtype{"to_dtype",
                            [](BackwardContext& c) { c.accumulate(0, to_dtype(c.grad(), c.input(0).dtype())); },
                            [](const Node& n, const std::vector<Tensor>& in) {
                              return to_dtype(in[0], static_cast<Dtype>(n.args.ints[0]));
                            }};
Tensor to_dtype(const Tensor& x, Dtype dtype) {
  defined("to_dtype", x);
  if (x.dtype() == dtype) return x;
  Tensor out = make_tensor(x.shape(), dtype);
  out.copy_(x);
  NodeArgs args;
  args.ints[0] = static_cast<int64_t>(dtype);
  return record(kToDtype, std::move(out), {x}, std::move(args));
}
Tensor Tensor::to(Dtype d) const { return to_dtype(*this, d); }
// A round trip through the other dtype: both conversions are recorded, and the output keeps
// the input's dtype. The step is larger because float32 rounding swamps a 1e-6 difference.
static RegisterOp reg_to_dtype({"to_dtype", "round trip",
                                [](auto& in) {
                                  Dtype other = in[0].dtype() == Dtype::f32 ? Dtype::f64 : Dtype::f32;
                                  return to_dtype(to_dtype(in[0], other), in[0].dtype());
                                },
                                [](Dtype d, Generator& g) { return unary_samples(d, g); }, true, {}, 1e-3});

// ---- masks (not recorded) ----
Tensor greater(const Tensor& a, const Tensor& b) {
  return broadcast_zip("greater", a, b, [](auto x, auto y) { return x > y ? decltype(x)(1) : decltype(x)(0); });
}
Tensor less(const Tensor& a, const Tensor& b) {
  return broadcast_zip("less", a, b, [](auto x, auto y) { return x < y ? decltype(x)(1) : decltype(x)(0); });
}
Tensor equal(const Tensor& a, const Tensor& b) {
  return broadcast_zip("equal", a, b, [](auto x, auto y) { return x == y ? decltype(x)(1) : decltype(x)(0); });
}
Tensor greater(const Tensor& a, double s) {
  defined("greater", a);
  return map(a, [s](auto x) { return x > s ? decltype(x)(1) : decltype(x)(0); });
}
Tensor less(const Tensor& a, double s) {
  defined("less", a);
  return map(a, [s](auto x) { return x < s ? decltype(x)(1) : decltype(x)(0); });
}
static RegisterOp reg_greater({"greater", "", [](auto& in) { return greater(in[0], in[1]); },
                               [](Dtype d, Generator& g) { return binary_samples(d, g); }, false});
static RegisterOp reg_less({"less", "", [](auto& in) { return less(in[0], in[1]); },
                            [](Dtype d, Generator& g) { return binary_samples(d, g); }, false});
static RegisterOp reg_equal({"equal", "", [](auto& in) { return equal(in[0], in[1]); },
                             [](Dtype d, Generator& g) { return binary_samples(d, g); }, false});

}  // namespace tapegrad
