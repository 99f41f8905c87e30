// Reductions (sum and mean over one axis, several or all; max, min, argmax, prod) and the
// broadcast pair sum_to / broadcast_to. The gradients are ops: sum_to and broadcast_to are each
// other's, and max, min and prod along an axis have backward ops of their own (max_backward,
// min_backward, prod_backward), registered beside them.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "ops/axis.h"
#include "ops/parallel.h"

namespace tapegrad {

using namespace detail;

namespace {

// The shape with `axis` kept as size 1 (to broadcast a reduced gradient back).
Shape kept_shape(const Shape& s, size_t axis) { return reduced_shape(s, axis, true); }

// The samples of a reduction's backward op (g, x): x from the forward's samples, g normal in the
// shape the reduction over `axis` gives.
SampleInputs grad_and_x(SampleInputs forward, size_t axis, bool keepdim) {
  return [forward, axis, keepdim](Dtype d, Generator& g) {
    std::vector<OpSample> out = forward(d, g);
    for (OpSample& s : out) {
      const Tensor x = s.inputs[0];
      s.inputs = {samples::normal(reduced_shape(x.shape(), axis, keepdim), d, g), x};
    }
    return out;
  };
}

}  // namespace

// ---- sum_to / broadcast_to ----

struct ToShape {
  Shape shape;
};
namespace {
Tensor spread_to(const Tensor& x, const Shape& shape);
}  // namespace
Tensor sum_to_forward(Inputs in, ToShape& a);
Tensor broadcast_to_forward(Inputs in, ToShape& a);
namespace {
// Whether summing x of shape `sx` to `shape` sums x's leading `rows` slices of `n` elements into
// one (a bias gradient, [batch, n] to [n] or [1, n]; all of x when n is 1): `shape` is 1 or
// absent up to some axis and equal to sx from there on.
bool leading_sum(const Shape& sx, const Shape& shape, int64_t& rows, int64_t& n) {
  const size_t rank = sx.size(), lead = rank - std::min(rank, shape.size());
  if (shape.size() > rank) return false;
  auto out_dim = [&](size_t d) { return d < lead ? int64_t{1} : shape[d - lead]; };
  size_t split = rank;
  while (split > 0 && out_dim(split - 1) == sx[split - 1]) --split;
  rows = 1;
  n = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (d < split && out_dim(d) != 1) return false;
    (d < split ? rows : n) *= sx[d];
  }
  return true;
}
std::vector<double>& sum_scratch();
}  // namespace
// Columns [lo, hi) of x [rows, n] summed over the rows, each output element adding its terms in
// x's order: float32 through the float64 accumulator above 16 terms.
template <class T>
void sum_columns(const T* p, T* q, int64_t rows, int64_t n, int64_t lo, int64_t hi) {
  p += lo;
  q += lo;
  const int64_t w = hi - lo;
  if (std::is_same_v<T, float> && rows > 16) {
    std::vector<double>& acc = sum_scratch();  // per thread
    acc.assign(static_cast<size_t>(w), 0.0);
    for (int64_t r = 0; r < rows; ++r, p += n)
      for (int64_t j = 0; j < w; ++j) acc[static_cast<size_t>(j)] += static_cast<double>(p[j]);
    for (int64_t j = 0; j < w; ++j) q[j] = static_cast<T>(acc[static_cast<size_t>(j)]);
  } else {
    std::fill(q, q + w, T(0));
    for (int64_t r = 0; r < rows; ++r, p += n)
      for (int64_t j = 0; j < w; ++j) q[j] += p[j];
  }
}
// x as [rows, n] summed over its rows, in the order of the general loop in sum_to_forward, so both
// give the same bits: the columns (on the threads, in ranges, when large), all of x through
// accurate_sum, one row copied.
template <class T>
void sum_rows(const T* p, T* q, int64_t rows, int64_t n) {
  if (rows == 1) {
    std::copy(p, p + n, q);
  } else if (n == 1) {
    q[0] = static_cast<T>(accurate_sum(p, rows));
  } else if (rows * n < kParallelElements || n < 128) [[likely]] {
    sum_columns(p, q, rows, n, 0, n);
  } else {
    split_over_threads(n, [=](int64_t lo, int64_t hi) { sum_columns(p, q, rows, n, lo, hi); });
  }
}
template <class T, class>
struct SumRowsLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    sum_rows(static_cast<const T*>(in[0]), static_cast<T*>(out), k.size[0], k.size[1]);
  }
};
Kernel sum_to_plan(Inputs in, const ToShape& a, const Tensor& out) {
  Kernel k;
  const TensorImpl& x = *impl_of(in[0]);
  if (x.numel == 0 || !leading_sum(x.shape, a.shape, k.size[0], k.size[1])) return k;
  k.run = for_dtype<SumRowsLoop, void>(impl_of(out)->dtype);
  return k;
}
// The kernel form of broadcast_to where x is repeated whole (one element, as sum's backward
// spreads its gradient, or x the trailing dimensions of the shape: a row): copies of x.
template <class T, class>
struct RepeatLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    const T* x = static_cast<const T*>(in[0]);
    T* r = static_cast<T*>(out);
    const int64_t n = k.size[1];
    for (int64_t row = 0; row < k.size[0]; ++row, r += n)
      for (int64_t j = 0; j < n; ++j) r[j] = x[j];
  }
};
Kernel broadcast_to_plan(Inputs in, const ToShape&, const Tensor& out) {
  const Shape &sx = impl_of(in[0])->shape, &so = impl_of(out)->shape;
  Kernel k;
  const int64_t n = impl_of(in[0])->numel;
  bool repeated = n == 1;
  if (!repeated && sx.size() <= so.size()) {
    repeated = true;
    for (size_t d = 0; d < sx.size(); ++d) repeated &= sx[d] == so[so.size() - sx.size() + d];
  }
  if (!repeated || n == 0) return k;
  k.size[0] = impl_of(out)->numel / n;
  k.size[1] = n;
  k.run = for_dtype<RepeatLoop, void>(impl_of(out)->dtype);
  return k;
}
static const Op<ToShape> kSumTo(
    {.name = "sum_to",
     .forward = sum_to_forward,
     .backward = [](BackwardContext& c, const ToShape&) { c.accumulate(0, spread_to(c.grad(), c.input(0).shape())); },
     .samples = {{.label = "[2,3,4] to [3,1]",
                  .args = {Shape{3, 1}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 3, 4}, d, g)}, "3-D"}};
                  }},
                 // No two terms meet (a bias gradient at batch 1): a copy in the new shape.
                 {.label = "[1,2,3] to [2,3]",
                  .args = {Shape{2, 3}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({1, 2, 3}, d, g)}, "a leading size-1 axis"}};
                  }},
                 // A bias gradient: rows summed, in float64 above 16 of them.
                 {.label = "[20,3] to [3]",
                  .args = {Shape{3}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({20, 3}, d, g)}, "rows"}};
                  }},
                 {.label = "[2,3] to [1,3]",
                  .args = {Shape{1, 3}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 3}, d, g)}, "rows, kept"}};
                  }},
                 {.label = "[2,3] to []",
                  .args = {Shape{}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 3}, d, g)}, "all"}};
                  }}},
     .plan = sum_to_plan});
static const Op<ToShape> kBroadcastTo(
    {.name = "broadcast_to",
     .forward = broadcast_to_forward,
     .backward = [](BackwardContext& c, const ToShape&) { c.accumulate(0, sum_to(c.grad(), c.input(0).shape())); },
     .samples = {{.label = "[3,1] to [2,3,4]",
                  .args = {Shape{2, 3, 4}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 1}, d, g)}, "2-D"}};
                  }},
                 {.label = "[4] to [3,4]",
                  .args = {Shape{3, 4}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({4}, d, g)}, "row"}};
                  }},
                 {.label = "[] to [2,3]",
                  .args = {Shape{2, 3}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({}, d, g)}, "one element"}};
                  }}},
     .plan = broadcast_to_plan});

Tensor sum_to(const Tensor& x, const Shape& shape) {
  defined("sum_to", x);
  if (x.shape() == shape) return x;
  return kSumTo({x}, {shape});
}

namespace {
// The float64 accumulator of sum_to, kept between calls: no allocation per step. (Reached only
// where it is used: a thread_local's guard is checked wherever it is declared.)
std::vector<double>& sum_scratch() {
  thread_local std::vector<double> scratch;
  return scratch;
}
}  // namespace

Tensor sum_to_forward(Inputs in, ToShape& a) {
  const Tensor& x = in[0];
  const Shape& shape = a.shape;
  const Shape& sx = x.shape();
  if (broadcast_shapes("sum_to", sx, shape) != sx)
    throw Error("sum_to: shape " + shape.str() + " does not broadcast to the input's " + sx.str());
  if (x.numel() == shape.numel()) return copy_of(make_view(x, shape));  // no two terms meet
  int64_t rows = 0, row = 0;
  if (x.numel() > 0 && leading_sum(sx, shape, rows, row)) {  // the kernel form's cases
    Tensor out = make_tensor(shape, x.dtype());
    dispatch(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sum_rows(ptr<T>(x), ptr<T>(out), rows, row);
    });
    return out;
  }
  Tensor out = zeros(shape, x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(x);
    T* q = ptr<T>(out);
    const size_t rank = sx.size();
    const int64_t n = x.numel();
    // Strides into the output for each input dimension: 0 where the output has size 1 (summed).
    if (rank > 16) throw Error("sum_to: supports up to 16 dimensions, got " + sx.str());
    int64_t stride[16] = {}, idx[16] = {};
    int64_t st = 1;
    for (size_t d = rank; d-- > 0;) {
      const bool has = d + shape.size() >= rank;
      const int64_t od = has ? shape[d + shape.size() - rank] : 1;
      stride[d] = od == 1 ? 0 : st;
      st *= od;
    }
    if (n == 0) return;
    // float32 sums of many terms go through a float64 buffer (a wider accumulator, as for the
    // full sums); a few terms a output (a bias gradient at batch 1) add up in float directly.
    const int64_t m = shape.numel();
    const bool wide = std::is_same_v<T, float> && n / m > 16;
    std::vector<double>* scratch = wide ? &sum_scratch() : nullptr;
    if (wide) scratch->assign(static_cast<size_t>(m), 0.0);
    const int64_t inner = sx[rank - 1], is = stride[rank - 1];
    auto add_into = [&](auto* acc) {
      using Acc = std::remove_pointer_t<decltype(acc)>;
      int64_t off = 0;
      for (int64_t k = 0; k < n; k += inner) {
        for (int64_t j = 0; j < inner; ++j) acc[off + j * is] += static_cast<Acc>(p[k + j]);
        for (size_t d = rank - 1; d-- > 0;) {
          off += stride[d];
          if (++idx[d] < sx[d]) break;
          off -= stride[d] * sx[d];
          idx[d] = 0;
        }
      }
    };
    if (wide) {
      add_into(scratch->data());
      for (int64_t k = 0; k < m; ++k) q[k] = static_cast<T>((*scratch)[static_cast<size_t>(k)]);
    } else {
      add_into(q);
    }
  });
  return out;
}

// A copy even to x's own shape, as documented (a write into it must not reach x; expand is this).
Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  defined("broadcast_to", x);
  return kBroadcastTo({x}, {shape});
}
namespace {
// broadcast_to for the backwards here, which only read the result: x itself where no axis grows.
Tensor spread_to(const Tensor& x, const Shape& shape) { return x.shape() == shape ? x : broadcast_to(x, shape); }
}  // namespace

Tensor broadcast_to_forward(Inputs in, ToShape& a) {
  const Tensor& x = in[0];
  if (broadcast_shapes("broadcast_to", x.shape(), a.shape) != a.shape)
    throw Error("broadcast_to: shape " + x.shape().str() + " cannot be broadcast to " + a.shape.str());
  Tensor target = make_tensor(a.shape, x.dtype(), "broadcast_to");
  return broadcast_zip("broadcast_to", target, x, [](auto, auto b) { return b; });
}

// ---- sum ----
static const Op<void> kSumAll(
    {.name = "sum",
     .forward =
         [](Inputs in) {
           const Tensor& x = in[0];
           Tensor out = make_tensor(Shape{}, x.dtype());
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             ptr<T>(out)[0] = static_cast<T>(accurate_sum(p, x.numel()));
           });
           return out;
         },
     .backward = [](BackwardContext& c) { c.accumulate(0, spread_to(c.grad(), c.input(0).shape())); },
     .samples = {{.label = "all", .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                  }}}});
Tensor sum(const Tensor& x) { return kSumAll({x}); }

static const Op<AxisArgs> kSumAxis(
    {.name = "sum",
     .forward =
         [](Inputs in, AxisArgs& a) {
           const Tensor& x = in[0];
           const size_t ax = normalize_axis("sum", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           const bool keepdim = a.keepdim;
           const Lanes v = lanes(x.shape(), ax);
           Tensor out = zeros(reduced_shape(x.shape(), ax, keepdim), x.dtype());
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             T* q = ptr<T>(out);
             if (v.inner == 1) {  // each output sums a contiguous lane
               for (int64_t o = 0; o < v.outer; ++o) q[o] = static_cast<T>(accurate_sum(p + o * v.n, v.n));
               return;
             }
             // Row by row into a float64 buffer (for float32, the wider accumulator).
             std::vector<double> acc(static_cast<size_t>(v.inner));
             for (int64_t o = 0; o < v.outer; ++o) {
               std::fill(acc.begin(), acc.end(), 0.0);
               for (int64_t j = 0; j < v.n; ++j) {
                 const T* row = p + (o * v.n + j) * v.inner;
                 for (int64_t i = 0; i < v.inner; ++i) acc[static_cast<size_t>(i)] += static_cast<double>(row[i]);
               }
               for (int64_t i = 0; i < v.inner; ++i) q[o * v.inner + i] = static_cast<T>(acc[static_cast<size_t>(i)]);
             }
           });
           return out;
         },
     .backward =
         [](BackwardContext& c, const AxisArgs& a) {
           const Shape& s = c.input(0).shape();
           Tensor g = reshape(c.grad(), kept_shape(s, static_cast<size_t>(a.axis)).vec());
           c.accumulate(0, spread_to(g, s));
         },
     .samples = {{.label = "axis=0", .args = {0, false}, .inputs = reduce_inputs()},
                 {.label = "axis=-1, keepdim", .args = {-1, true}, .inputs = reduce_inputs()}}});
Tensor sum(const Tensor& x, int64_t axis, bool keepdim) { return kSumAxis({x}, {axis, keepdim}); }

// ---- mean: sum divided by n (two nodes, both checked on their own) ----
Tensor mean(const Tensor& x) {
  defined("mean", x);
  if (x.numel() == 0) throw Error("mean: the input " + x.shape().str() + " has no elements");
  return div_scalar(sum(x), static_cast<double>(x.numel()));
}
static RegisterOp reg_mean_all({.name = "mean",
                                 .variant = "all",
                                 .fn = [](auto& in) { return mean(in[0]); },
                                 .samples = [](Dtype d, Generator& g) {
                                   return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                                 }});
Tensor mean(const Tensor& x, int64_t axis, bool keepdim) {
  defined("mean", x);
  const size_t ax = normalize_axis("mean", axis, x.shape());
  if (x.shape()[ax] == 0) throw Error("mean: axis " + std::to_string(axis) + " of " + x.shape().str() + " is empty");
  return div_scalar(sum(x, axis, keepdim), static_cast<double>(x.shape()[ax]));
}
static RegisterOp reg_mean_axis({.name = "mean",
                                  .variant = "axis=0",
                                  .fn = [](auto& in) { return mean(in[0], 0, false); },
                                  .samples = [](Dtype d, Generator& g) {
                                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                                  }});

// ---- max and min over an axis: the gradient goes to the first extreme element, or the first NaN ----
namespace {
// Index (along the axis) of the first largest (Max) or smallest value, or of the first NaN, for
// every [outer, inner] position.
template <bool Max = true>
std::vector<int64_t> argmax_along(const Tensor& x, const Lanes& v) {
  std::vector<int64_t> at(static_cast<size_t>(v.outer * v.inner), 0);
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(x);
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t i = 0; i < v.inner; ++i) {
        int64_t best = 0;
        T bv = p[o * v.n * v.inner + i];
        for (int64_t j = 1; j < v.n; ++j) {
          T val = p[(o * v.n + j) * v.inner + i];
          if ((Max ? val > bv : val < bv) || (std::isnan(val) && !std::isnan(bv))) bv = val, best = j;
        }
        at[static_cast<size_t>(o * v.inner + i)] = best;
      }
  });
  return at;
}
}  // namespace

// The axis as AxisArgs, and the index of the maximum of every lane, saved by the forward.
struct MaxArgs {
  int64_t axis;
  bool keepdim;
  Tensor argmax = {};
};
namespace {
// Each lane's upstream value (1 for a null `g`: the routing mask) at the lane's maximum (Max) or
// minimum, 0 elsewhere; the index is the forward's (a.argmax), or found again from x if undefined.
template <bool Max>
Tensor to_argmax(const Tensor& x, const MaxArgs& a, const Tensor* g) {
  const Lanes v = lanes(x.shape(), static_cast<size_t>(a.axis));
  Tensor gx = zeros(x.shape(), x.dtype());
  std::vector<int64_t> found;
  if (!a.argmax.defined()) found = argmax_along<Max>(x, v);
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gp = g ? ptr<T>(*g) : nullptr;
    T* q = ptr<T>(gx);
    auto route = [&](auto at) {
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t i = 0; i < v.inner; ++i) {
          const int64_t k = o * v.inner + i;
          q[(o * v.n + at(k)) * v.inner + i] = gp ? gp[k] : T(1);
        }
    };
    if (found.empty()) route([idx = ptr<T>(a.argmax)](int64_t k) { return static_cast<int64_t>(idx[k]); });
    else route([&found](int64_t k) { return found[static_cast<size_t>(k)]; });
  });
  return gx;
}

// max_backward(g, x) / min_backward(g, x): g routed to each lane's extreme element of x. Linear
// in g; piecewise constant in x (zero gradient there, as the forward's argmax is data).
template <bool Max>
OpSpec<MaxArgs> along_axis_backward_spec();
}  // namespace
static const Op<MaxArgs> kMaxBackward(along_axis_backward_spec<true>());
static const Op<MaxArgs> kMinBackward(along_axis_backward_spec<false>());
namespace {
template <bool Max>
const Op<MaxArgs>& along_axis_backward() {
  return Max ? kMaxBackward : kMinBackward;
}

template <bool Max>
OpSpec<MaxArgs> along_axis_spec() {
  return {.name = Max ? "max" : "min",
     .forward =
         [](Inputs in, MaxArgs& a) {
           const Tensor& x = in[0];
           const size_t ax = normalize_axis(Max ? "max" : "min", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           const bool keepdim = a.keepdim;
           const Lanes v = lanes(x.shape(), ax);
           if (v.n == 0) throw Error(std::string(Max ? "max" : "min") + ": axis " + std::to_string(ax) + " of " + x.shape().str() + " is empty");
           std::vector<int64_t> at = argmax_along<Max>(x, v);
           Shape rs = reduced_shape(x.shape(), ax, keepdim);
           Tensor out = make_tensor(rs, x.dtype());
           // A compiled step replays this forward on the node's arguments, whose argmax its
           // backward instruction shares: the indices go into that tensor, not a new one.
           const bool reuse = a.argmax.defined() && impl_of(a.argmax)->shape == rs && impl_of(a.argmax)->dtype == x.dtype();
           Tensor idx = reuse ? a.argmax : make_tensor(rs, x.dtype());
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             T* q = ptr<T>(out);
             T* r = ptr<T>(idx);
             for (int64_t o = 0; o < v.outer; ++o)
               for (int64_t i = 0; i < v.inner; ++i) {
                 const int64_t k = o * v.inner + i;
                 q[k] = p[(o * v.n + at[static_cast<size_t>(k)]) * v.inner + i];
                 r[k] = static_cast<T>(at[static_cast<size_t>(k)]);
               }
           });
           a.argmax = std::move(idx);
           return out;
         },
     .backward =
         [](BackwardContext& c, const MaxArgs& a) {
           c.accumulate(0, along_axis_backward<Max>()({c.grad(), c.input(0)}, a));
         },
     .samples = {{.label = "axis=1",
                  .args = {1, false},
                  .inputs = [](Dtype d, Generator& g) {
                    // Distinct values (a shuffled grid) so no tie sits within eps.
                    std::vector<double> v(12);
                    for (size_t k = 0; k < v.size(); ++k) v[k] = (Max ? 0.3 : -0.3) * static_cast<double>(k) + (Max ? -1.7 : 1.9);
                    for (size_t k = v.size(); k-- > 1;) std::swap(v[k], v[g.below(k + 1)]);
                    return std::vector<OpSample>{{{from_vector(v, {3, 4}, d)}, "matrix, no ties"},
                                                 {{from_vector(v, {2, 3, 2}, d)}, "3-D, no ties"}};
                  }}},
     // A lane whose maximum is tied within eps: a perturbation can hand the maximum to another
     // element, so every element of the tie is a kink.
     .kinks = [](Inputs in, const MaxArgs& a, double eps, std::vector<ElementRef>& out) {
       const Tensor x = in[0].detach().to(Dtype::f64);
       const Lanes v = lanes(x.shape(), normalize_axis(Max ? "max" : "min", a.axis, x.shape()));
       const double* p = x.data<double>();
       for (int64_t o = 0; o < v.outer; ++o)
         for (int64_t i = 0; i < v.inner; ++i) {
           auto at = [&](int64_t j) { return (o * v.n + j) * v.inner + i; };
           double m = -INFINITY;
           for (int64_t j = 0; j < v.n; ++j) m = std::max(m, Max ? p[at(j)] : -p[at(j)]);
           std::vector<int64_t> near;
           for (int64_t j = 0; j < v.n; ++j)
             if (m - (Max ? p[at(j)] : -p[at(j)]) <= 2 * eps) near.push_back(at(j));
           if (near.size() > 1)
             for (int64_t k : near) out.push_back({0, k});
         }
     }};
}

template <bool Max>
OpSpec<MaxArgs> along_axis_backward_spec() {
  return {.name = Max ? "max_backward" : "min_backward",
          .forward =
              [](Inputs in, MaxArgs& a) {
                const char* op = Max ? "max_backward" : "min_backward";
                const Tensor &g = in[0], &x = in[1];
                same_dtype(op, g, x);
                const size_t ax = normalize_axis(op, a.axis, x.shape());
                a.axis = static_cast<int64_t>(ax);
                if (!is_reduced_shape(g.shape(), x.shape(), ax, a.keepdim))
                  throw Error(std::string(op) + ": grad has shape " + g.shape().str() + ", expected " +
                              reduced_shape(x.shape(), ax, a.keepdim).str() + " for x " + x.shape().str() +
                              " reduced over axis " + std::to_string(ax));
                return to_argmax<Max>(x, a, &g);
              },
          // The upstream gathered back from each lane's extreme element: the mask (data) times it, summed.
          .backward =
              [](BackwardContext& c, const MaxArgs& a) {
                if (!c.needs_grad(0)) return;
                // The routing mask is this op again on an upstream of ones (an op, so that a
                // compiled step computes it at each call's x, not once).
                const Tensor& g = c.input(0);
                const Tensor unit = ones(g.shape(), g.dtype());
                const Tensor mask = along_axis_backward<Max>()({unit, c.input(1)}, a);
                c.accumulate(0, sum(mask * c.grad(), a.axis, a.keepdim));
              },
          .samples = {{.label = "axis=1",
                       .args = {1, false},
                       .inputs = grad_and_x(along_axis_spec<Max>().samples[0].inputs, 1, false),
                       .zero_gradient_inputs = {1}},
                      {.label = "axis=0, keepdim",
                       .args = {0, true},
                       .inputs = grad_and_x(along_axis_spec<Max>().samples[0].inputs, 0, true),
                       .zero_gradient_inputs = {1}}}};
}
}  // namespace

static const Op<MaxArgs> kMax(along_axis_spec<true>());
static const Op<MaxArgs> kMinAxis(along_axis_spec<false>());
Tensor max(const Tensor& x, int64_t axis, bool keepdim) { return kMax({x}, {axis, keepdim}); }

namespace {
struct ArgmaxArgs {
  int64_t axis = 0;
};
}  // namespace
static const Op<ArgmaxArgs> kArgmax({.name = "argmax",
                                     .forward = [](Inputs in, ArgmaxArgs& a) {
                                       const Tensor& x = in[0];
                                       const size_t ax = normalize_axis("argmax", a.axis, x.shape());
                                       const Lanes v = lanes(x.shape(), ax);
                                       if (v.n == 0)
                                         throw Error("argmax: axis " + std::to_string(a.axis) + " of " + x.shape().str() +
                                                     " is empty");
                                       std::vector<int64_t> at = argmax_along(x, v);
                                       std::vector<double> vals(at.begin(), at.end());
                                       return from_vector(vals, reduced_shape(x.shape(), ax, false), x.dtype());
                                     },
                                     .samples = {{.label = "axis=1",
                                                  .args = {1},
                                                  .inputs = [](Dtype d, Generator& g) {
                                                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                                                  }}},
                                     .recorded = false});
Tensor argmax(const Tensor& x, int64_t axis) {
  defined("argmax", x);
  return kArgmax({x}, {axis});
}

// ---- sum and mean over several axes: one sum node per axis, the last axis first ----
namespace {
// The axes, canonicalised and sorted from the last; throws on a repeated or out-of-range axis.
std::vector<size_t> axes_of(const char* op, const Tensor& x, const std::vector<int64_t>& axes) {
  defined(op, x);
  std::vector<size_t> out;
  for (int64_t a : axes) {
    const size_t ax = normalize_axis(op, a, x.shape());
    if (std::find(out.begin(), out.end(), ax) != out.end())
      throw Error(std::string(op) + ": axis " + std::to_string(a) + " is listed twice (shape " + x.shape().str() + ")");
    out.push_back(ax);
  }
  std::sort(out.rbegin(), out.rend());  // from the last, so that the earlier axes keep their numbers
  return out;
}
SampleInputs reduce3_inputs() {
  return [](Dtype d, Generator& g) { return std::vector<OpSample>{{{samples::normal({2, 3, 4}, d, g)}, "3-D"}}; };
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  const std::vector<size_t> order = axes_of("sum", x, axes);
  if (order.empty()) return x;  // summing over no axis changes nothing, as in NumPy
  Tensor y = x;
  for (size_t ax : order) y = sum(y, static_cast<int64_t>(ax), keepdim);
  return y;
}
static RegisterOp reg_sum_axes({.name = "sum",
                                 .variant = "axes={0,2}",
                                 .fn = [](auto& in) { return sum(in[0], std::vector<int64_t>{0, 2}); },
                                 .samples = reduce3_inputs()});
static RegisterOp reg_sum_axes_keep({.name = "sum",
                                      .variant = "axes={-1,0}, keepdim",
                                      .fn = [](auto& in) { return sum(in[0], std::vector<int64_t>{-1, 0}, true); },
                                      .samples = reduce3_inputs()});

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  const std::vector<size_t> order = axes_of("mean", x, axes);
  int64_t n = 1;
  for (size_t ax : order) n *= x.shape()[ax];
  if (n == 0) throw Error("mean: the axes reduced of " + x.shape().str() + " hold no elements");
  if (order.empty()) return x;
  return div_scalar(sum(x, axes, keepdim), static_cast<double>(n));
}
static RegisterOp reg_mean_axes({.name = "mean",
                                  .variant = "axes={0,2}",
                                  .fn = [](auto& in) { return mean(in[0], std::vector<int64_t>{0, 2}); },
                                  .samples = reduce3_inputs()});

// ---- min over an axis: one node, as max (it was -max(-x): three nodes in reports) ----
Tensor min(const Tensor& x, int64_t axis, bool keepdim) { return kMinAxis({x}, {axis, keepdim}); }

// ---- prod over an axis, exact with zeros: the gradient of each factor is the product of the
// others, computed without dividing by the factor (y / x is NaN at a zero) ----
namespace {
// prod(x) with each factor of a lane in turn replaced by 1, as ops (for prod_backward's backward):
// a copy of every lane per factor, copies[..., j, i, ...] = x[..., i, ...] for i != j and 1 for
// i == j, whose products over i are the products of the others (no division: exact with zeros).
// n times the memory, only in a second derivative. `mask` gets the [n, n, 1, ...] diagonal.
Tensor lane_copies(const Tensor& x, size_t ax, Tensor& mask) {
  const Shape& s = x.shape();
  const int64_t n = s[ax];
  std::vector<int64_t> mask_shape = {n, n};  // broadcasting over the axes after `ax`
  mask_shape.resize(s.size() - ax + 1, 1);
  std::vector<double> eye(static_cast<size_t>(n * n), 0.0);
  for (int64_t j = 0; j < n; ++j) eye[static_cast<size_t>(j * n + j)] = 1;
  mask = from_vector(eye, Shape(mask_shape), x.dtype());
  return where(mask, full(Shape{}, 1.0, x.dtype()), unsqueeze(x, static_cast<int64_t>(ax)));
}
// A matrix with one zero in column 1 and two in column 2 (the product of the others is then
// zero for all of a column, or for all but the zero).
std::vector<OpSample> with_zeros(Dtype d, Generator& g) {
  Tensor x = samples::normal({3, 4}, Dtype::f64, g);
  x.data<double>()[1] = 0;
  x.data<double>()[2] = x.data<double>()[6] = 0;
  return {{{x.to(d)}, "zeros in two columns"}};
}
}  // namespace

// prod_backward(g, x): g times the product of the other factors of each lane (g of prod's shape).
static const Op<AxisArgs> kProdBackward(
    {.name = "prod_backward",
     .forward =
         [](Inputs in, AxisArgs& a) {
           const Tensor &gy = in[0], &x = in[1];
           same_dtype("prod_backward", gy, x);
           const size_t ax = normalize_axis("prod_backward", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           if (!is_reduced_shape(gy.shape(), x.shape(), ax, a.keepdim))
             throw Error("prod_backward: grad has shape " + gy.shape().str() + ", expected " +
                         reduced_shape(x.shape(), ax, a.keepdim).str() + " for x " + x.shape().str() +
                         " reduced over axis " + std::to_string(ax));
           const Lanes l = lanes(x.shape(), ax);
           Tensor gx = make_tensor(x.shape(), x.dtype(), "prod_backward");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             const T* g = ptr<T>(gy);
             T* q = ptr<T>(gx);
             std::vector<T> before(static_cast<size_t>(l.n));
             int64_t k = 0;
             for_each_lane(l, [&](int64_t off, int64_t st) {
               // Product of the factors before j, times the product of those after j.
               T run = 1;
               for (int64_t j = 0; j < l.n; ++j) {
                 before[static_cast<size_t>(j)] = run;
                 run *= p[off + j * st];
               }
               T after = 1;
               for (int64_t j = l.n; j-- > 0;) {
                 q[off + j * st] = g[k] * before[static_cast<size_t>(j)] * after;
                 after *= p[off + j * st];
               }
               ++k;
             });
           });
           return gx;
         },
     // With P(x) = prod(copies, ax + 1), the products of the others: the output is P g. d/dg sums
     // the upstream times P over the lane; d/dx is P's vector-Jacobian product, which is
     // prod_backward again on the copies, with the diagonal (the 1s) dropped and the copies summed.
     .backward =
         [](BackwardContext& c, const AxisArgs& a) {
           const Tensor& x = c.input(1);
           const size_t ax = static_cast<size_t>(a.axis);
           const int64_t lane = static_cast<int64_t>(ax) + 1;
           Tensor mask;
           const Tensor copies = lane_copies(x, ax, mask);
           if (c.needs_grad(0)) c.accumulate(0, sum(c.grad() * prod(copies, lane, false), a.axis, a.keepdim));
           if (c.needs_grad(1)) {
             const Tensor t = c.grad() * reshape(c.input(0), kept_shape(x.shape(), ax).vec());
             const Tensor through = kProdBackward({t, copies}, {lane, false});
             c.accumulate(1, sum(where(mask, zeros(Shape{}, x.dtype()), through), a.axis, false));
           }
         },
     .samples = {{.label = "axis=1", .args = {1, false}, .inputs = grad_and_x(reduce_inputs(), 1, false)},
                 {.label = "axis=0, keepdim, with zeros", .args = {0, true}, .inputs = grad_and_x(with_zeros, 0, true)}}});

static const Op<AxisArgs> kProd(
    {.name = "prod",
     .forward =
         [](Inputs in, AxisArgs& a) {
           const Tensor& x = in[0];
           const size_t ax = normalize_axis("prod", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           const Lanes l = lanes(x.shape(), ax);
           Tensor out = make_tensor(reduced_shape(x.shape(), ax, a.keepdim), x.dtype(), "prod");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             T* q = ptr<T>(out);
             int64_t k = 0;
             for_each_lane(l, [&](int64_t off, int64_t st) {
               T r = 1;
               for (int64_t j = 0; j < l.n; ++j) r *= p[off + j * st];
               q[k++] = r;
             });
           });
           return out;
         },
     .backward = [](BackwardContext& c, const AxisArgs& a) { c.accumulate(0, kProdBackward({c.grad(), c.input(0)}, a)); },
     .samples = {{.label = "axis=1", .args = {1, false}, .inputs = reduce_inputs()},
                 {.label = "axis=0, keepdim, with zeros", .args = {0, true}, .inputs = with_zeros}}});
Tensor prod(const Tensor& x, int64_t axis, bool keepdim) { return kProd({x}, {axis, keepdim}); }

// ---- max and min over several axes or all of them: the gradient is shared equally by the
// elements equal to the result, as PyTorch's x.max() and amax share it (a NaN result by the NaNs) ----
struct ExtremeArgs {
  uint64_t axes;  // bit d set: axis d is reduced (canonical: the public functions check the list)
  bool keepdim;
};
namespace {
// Calls f(k, o) for every element k of a tensor of shape `s`, o its group (the flat index of the
// result it reduces into), walking the groups with per-axis strides (0 on a reduced axis).
template <class F>
void each_in_group(const Shape& s, uint64_t axes, F f) {
  const size_t rank = s.size();
  int64_t stride[64] = {}, idx[64] = {};
  int64_t st = 1;
  for (size_t d = rank; d-- > 0;) {
    const bool reduced = (axes >> d) & 1;
    stride[d] = reduced ? 0 : st;
    if (!reduced) st *= s[d];
  }
  int64_t o = 0;
  for (int64_t k = 0, n = s.numel(); k < n; ++k) {
    f(k, o);
    for (size_t d = rank; d-- > 0;) {
      o += stride[d];
      if (++idx[d] < s[d]) break;
      o -= stride[d] * s[d];
      idx[d] = 0;
    }
  }
}
Shape extreme_shape(const char* op, const Shape& s, const ExtremeArgs& a) {
  if (s.size() > 64 || (s.size() < 64 && (a.axes >> s.size()) != 0))
    throw Error(std::string(op) + ": axes beyond the rank of " + s.str());
  std::vector<int64_t> out;
  int64_t reduced = 1;
  for (size_t d = 0; d < s.size(); ++d) {
    if ((a.axes >> d) & 1) {
      reduced *= s[d];
      if (a.keepdim) out.push_back(1);
    } else {
      out.push_back(s[d]);
    }
  }
  if (reduced == 0) throw Error(std::string(op) + ": the axes reduced of " + s.str() + " hold no elements");
  return Shape(out);
}
// The result: each group's largest (Max) or smallest value, NaN if the group holds one.
template <bool Max>
Tensor extreme_forward(Inputs in, ExtremeArgs& a) {
  const Tensor& x = in[0];
  const char* op = Max ? "max" : "min";
  Tensor out = full(extreme_shape(op, x.shape(), a), Max ? -INFINITY : INFINITY, x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(x);
    T* q = ptr<T>(out);
    each_in_group(x.shape(), a.axes, [&](int64_t k, int64_t o) {
      const T v = p[k];
      if ((Max ? v > q[o] : v < q[o]) || v != v) q[o] = v;
    });
  });
  return out;
}
// Each element's share of its group's gradient: 1 / (the number of elements equal to the
// result) where it equals the result (NaN counts as equal to a NaN result), 0 elsewhere.
Tensor extreme_shares(const Tensor& x, const Tensor& y, const ExtremeArgs& a) {
  Tensor share = zeros(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(x);
    const T* q = ptr<T>(y);
    T* w = ptr<T>(share);
    std::vector<int64_t> count(static_cast<size_t>(y.numel()), 0);
    auto hit = [&](int64_t k, int64_t o) { return p[k] == q[o] || (p[k] != p[k] && q[o] != q[o]); };
    each_in_group(x.shape(), a.axes, [&](int64_t k, int64_t o) { count[static_cast<size_t>(o)] += hit(k, o); });
    each_in_group(x.shape(), a.axes, [&](int64_t k, int64_t o) {
      if (hit(k, o)) w[k] = T(1) / static_cast<T>(count[static_cast<size_t>(o)]);
    });
  });
  return share;
}
SampleInputs distinct3();
}  // namespace

// extreme_backward_shares(x, y): the shares above, for y the max or min of x over the axes.
// Data, never recorded (piecewise constant in x), but an op, so that a compiled step computes it
// at each call's values rather than keeping the compile-time shares.
static const Op<ExtremeArgs> kExtremeShares(
    {.name = "extreme_backward_shares",
     .forward =
         [](Inputs in, ExtremeArgs& a) {
           const Tensor &x = in[0], &y = in[1];
           same_dtype("extreme_backward_shares", x, y);
           if (impl_of(y)->shape != extreme_shape("extreme_backward_shares", impl_of(x)->shape, a))
             throw Error("extreme_backward_shares: y has shape " + y.shape().str() + ", expected " +
                         extreme_shape("extreme_backward_shares", x.shape(), a).str() + " for x " + x.shape().str());
           return extreme_shares(x, y, a);
         },
     .backward = [](BackwardContext&, const ExtremeArgs&) {},  // never recorded
     .samples = {{.label = "axes={1}",
                  .args = {0b010, false},
                  .inputs =
                      [](Dtype d, Generator& g) {
                        std::vector<OpSample> s = distinct3()(d, g);
                        for (OpSample& o : s) o.inputs.push_back(max(o.inputs[0], std::vector<int64_t>{1}, false));
                        return s;
                      }}},
     .recorded = false});

namespace {
void extreme_backward(BackwardContext& c, const ExtremeArgs& a) {
  const Tensor& x = c.input(0);
  const Tensor y = c.output();
  const Tensor share = kExtremeShares({x, y}, a);
  // The upstream with the reduced axes kept as size 1, to broadcast over each group.
  std::vector<int64_t> kept = x.shape().vec();
  for (size_t d = 0; d < kept.size(); ++d)
    if ((a.axes >> d) & 1) kept[d] = 1;
  const Tensor g = reshape(c.grad(), kept);
  // The shares are data (piecewise constant in x): the gradient is linear in the upstream, a mul.
  c.accumulate(0, mul(share, g));
}
// Ties within eps of a group's extreme: a perturbation can change which elements share it.
template <bool Max>
void extreme_ties(Inputs in, const ExtremeArgs& a, double eps, std::vector<ElementRef>& out) {
  const Tensor x = in[0].detach().to(Dtype::f64);
  ExtremeArgs args = a;
  const Tensor y = extreme_forward<Max>(Inputs(std::vector<Tensor>{x}), args);
  const double* p = x.data<double>();
  const double* q = y.data<double>();
  std::vector<int64_t> near(static_cast<size_t>(y.numel()), 0);
  auto close = [&](int64_t k, int64_t o) { return std::abs(p[k] - q[o]) <= 2 * eps; };
  each_in_group(x.shape(), a.axes, [&](int64_t k, int64_t o) { near[static_cast<size_t>(o)] += close(k, o); });
  each_in_group(x.shape(), a.axes, [&](int64_t k, int64_t o) {
    if (near[static_cast<size_t>(o)] > 1 && close(k, o)) out.push_back({0, k});
  });
}
// Distinct values 0.3 apart in a shuffled order: no tie within the finite-difference step.
SampleInputs distinct3() {
  return [](Dtype d, Generator& g) {
    std::vector<double> v(24);
    for (size_t k = 0; k < v.size(); ++k) v[k] = 0.3 * static_cast<double>(k) - 3.5;
    for (size_t k = v.size(); k-- > 1;) std::swap(v[k], v[g.below(k + 1)]);
    return std::vector<OpSample>{{{from_vector(v, {2, 3, 4}, d)}, "3-D, no ties"}};
  };
}
template <bool Max>
OpSpec<ExtremeArgs> extreme_spec() {
  return {.name = Max ? "max" : "min",
          .forward = extreme_forward<Max>,
          .backward = extreme_backward,
          .samples = {{.label = "all", .args = {0b111, false}, .inputs = distinct3()},
                      {.label = "axes={0,2}", .args = {0b101, false}, .inputs = distinct3()},
                      {.label = "axes={-1,0}, keepdim", .args = {0b101, true}, .inputs = distinct3()},
                      {.label = "axes={1}", .args = {0b010, false}, .inputs = distinct3()}},
          .kinks = extreme_ties<Max>};
}
// The axes as a bit set, each checked as sum checks them.
ExtremeArgs extreme_args(const char* op, const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  if (x.dim() > 64) throw Error(std::string(op) + ": supports up to 64 dimensions, got " + x.shape().str());
  uint64_t bits = 0;
  for (size_t ax : axes_of(op, x, axes)) bits |= uint64_t(1) << ax;
  return {bits, keepdim};
}
ExtremeArgs all_axes(const char* op, const Tensor& x) {
  defined(op, x);
  if (x.dim() > 64) throw Error(std::string(op) + ": supports up to 64 dimensions, got " + x.shape().str());
  return {x.dim() == 64 ? ~uint64_t(0) : (uint64_t(1) << x.dim()) - 1, false};
}
}  // namespace

static const Op<ExtremeArgs> kMaxAxes(extreme_spec<true>());
static const Op<ExtremeArgs> kMinAxes(extreme_spec<false>());
Tensor max(const Tensor& x) { return kMaxAxes({x}, all_axes("max", x)); }
Tensor min(const Tensor& x) { return kMinAxes({x}, all_axes("min", x)); }
Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return kMaxAxes({x}, extreme_args("max", x, axes, keepdim));
}
Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return kMinAxes({x}, extreme_args("min", x, axes, keepdim));
}

}  // namespace tapegrad
