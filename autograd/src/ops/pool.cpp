// max_pool2d and avg_pool2d on NCHW images, one plane (image, channel) at a time. Max pooling
// routes each window's gradient to the element that won it, found again in the backward from the
// input (no index tensor kept): the first maximal element in row-major window order, or the last
// NaN, which wins every window it is in, as in PyTorch's CPU kernel.
// Both backwards are linear in the gradient and are ops of their own, max_pool2d_backward and
// avg_pool2d_backward (a plain pass just runs their kernels; create_graph records them), whose
// backwards are max_pool2d_gather (the upstream at the same winners) and avg_pool2d.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <cmath>

#include "ops/loops.h"
#include "ops/parallel.h"
#include "tapegrad/core/threads.h"

namespace tapegrad {

using namespace detail;

namespace {

struct PoolArgs {
  int64_t kernel, stride, padding;
};

struct PoolGeometry {
  int64_t planes, h, w, oh, ow, k, stride, pad;
};

// The backward ops take a gradient `grad` beside x, checked too: of the output's shape, or of x's
// for max_pool2d_gather (`pooled` false).
PoolGeometry pool_geometry(const char* op, const Tensor& x, PoolArgs& a, const Tensor* grad = nullptr,
                           bool pooled = true) {
  // "<op>: <what> (x [..], kernel=.., stride=.., padding=..)": the op's name first, as every op's errors.
  auto fail = [&](const std::string& what) {
    throw Error(std::string(op) + ": " + what + " (" + (grad ? "grad " + grad->shape().str() + ", " : "") + "x " +
                x.shape().str() + ", kernel=" + std::to_string(a.kernel) + ", stride=" + std::to_string(a.stride) +
                ", padding=" + std::to_string(a.padding) + ")");
  };
  if (grad) same_dtype(op, *grad, x);
  if (x.dim() != 4) fail("x must be [N, C, H, W]");
  if (a.stride == 0) a.stride = a.kernel;
  if (a.kernel < 1 || a.stride < 1 || a.padding < 0)
    fail("expected kernel >= 1, stride >= 1 (or 0 for the kernel) and padding >= 0");
  if (2 * a.padding > a.kernel) fail("padding must be at most half the kernel");
  const int64_t h = x.shape()[2], w = x.shape()[3];
  if (h + 2 * a.padding < a.kernel || w + 2 * a.padding < a.kernel)
    fail("the window is larger than the padded input");
  const PoolGeometry g{x.shape()[0] * x.shape()[1], h, w, (h + 2 * a.padding - a.kernel) / a.stride + 1,
                       (w + 2 * a.padding - a.kernel) / a.stride + 1, a.kernel, a.stride, a.padding};
  if (grad) {
    const Shape want = pooled ? Shape{x.shape()[0], x.shape()[1], g.oh, g.ow} : x.shape();
    if (grad->shape() != want) fail("grad must be " + want.str() + (pooled ? ", the output's shape" : ", x's shape"));
  }
  return g;
}

// Calls f(window index, first row, end row, first column, end column) for each window of a
// plane, clipped to the image (padding is never read).
template <class F>
void for_each_window(const PoolGeometry& g, F f) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = oy * g.stride - g.pad, y1 = std::min(y0 + g.k, g.h);
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = ox * g.stride - g.pad, x1 = std::min(x0 + g.k, g.w);
      f(oy * g.ow + ox, std::max<int64_t>(y0, 0), y1, std::max<int64_t>(x0, 0), x1);
    }
  }
}

// The offset in the plane of the window's winner: the first maximal element in row-major order,
// or the last NaN. That is PyTorch's CPU kernel (`if ((val > maxval) || std::isnan(val))` over the
// window, from -inf): a NaN beats everything, later NaNs included, and nothing else beats a NaN.
template <class T>
int64_t winner(const T* p, int64_t w, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  int64_t at = y0 * w + x0;
  T best = -std::numeric_limits<T>::infinity();
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t x = x0; x < x1; ++x) {
      const T v = p[y * w + x];
      if (v > best || v != v) best = v, at = y * w + x;
    }
  return at;
}

// The 2x2 windows at stride 2 without padding (every CNN's pooling) take a path without
// branches, which GCC vectorizes: which element wins is random, and a mispredicted branch per
// window cost more than the rest of the loop. The rule is winner()'s: the first maximal element
// in row-major order, or the last NaN.
template <class T>
inline T plain_max4(T a, T b, T c, T d) {
  T m = b > a ? b : a;
  m = c > m ? c : m;
  return d > m ? d : m;
}
// Writes the window's gradient v to the winner among a, b, c, d and zeros to the others, with
// bit masks (all ones or zero) from the comparisons: GCC vectorizes this, where the same rule
// written with selects became a data-dependent branch per window (6 ms instead of 0.3 for the
// first pooling of the CNN). The NaN-aware form (the last NaN wins) is for planes that hold a
// NaN, found by a vectorized scan first, so that the common case stays short.
template <bool NanAware, class T>
inline void route4(T a, T b, T c, T d, T v, T& ga, T& gb, T& gc, T& gd) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  auto mask = [](bool x) { return U(0) - U(x); };
  const T m = plain_max4(a, b, c, d);
  U ha = mask(a == m), hb = mask(b == m), hc = mask(c == m);
  hb &= ~ha;
  hc &= ~(ha | hb);
  U hd = ~(ha | hb | hc);
  if constexpr (NanAware) {
    // The last NaN, where the window holds one: priority from d back to a.
    U nd = mask(d != d), nc = mask(c != c) & ~nd, nb = mask(b != b) & ~(nc | nd), na = mask(a != a) & ~(nb | nc | nd);
    const U nan = na | nb | nc | nd;
    ha = (nan & na) | (~nan & ha), hb = (nan & nb) | (~nan & hb), hc = (nan & nc) | (~nan & hc);
    hd = (nan & nd) | (~nan & hd);
  }
  const U bits = std::bit_cast<U>(v);
  ga = std::bit_cast<T>(bits & ha);
  gb = std::bit_cast<T>(bits & hb);
  gc = std::bit_cast<T>(bits & hc);
  gd = std::bit_cast<T>(bits & hd);
}
// (Sizes are copied to locals: read through `g`, they might alias the stores for all GCC knows,
// and it would not vectorize.)
template <bool NanAware, class T>
void route_plane(const T* src, const T* gy, T* dst, const PoolGeometry& g) {
  const int64_t w = g.w, oh = g.oh, ow = g.ow;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const T* r0 = src + 2 * oy * w;
    const T* r1 = r0 + w;
    T* d0 = dst + 2 * oy * w;
    T* d1 = d0 + w;
    const T* gr = gy + oy * ow;
    for (int64_t ox = 0; ox < ow; ++ox)
      route4<NanAware>(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1], gr[ox], d0[2 * ox], d0[2 * ox + 1],
                       d1[2 * ox], d1[2 * ox + 1]);
  }
}
// The forward of the same path: each window's maximum, NaN if it holds one.
template <class T>
void max_plane(const T* src, T* dst, const PoolGeometry& g) {
  const int64_t w = g.w, oh = g.oh, ow = g.ow;  // locals, as in route_plane
  for (int64_t oy = 0; oy < oh; ++oy) {
    const T* r0 = src + 2 * oy * w;
    const T* r1 = r0 + w;
    T* out = dst + oy * ow;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
      const bool nan = (a != a) | (b != b) | (c != c) | (d != d);
      out[ox] = nan ? a + b + c + d : plain_max4(a, b, c, d);
    }
  }
}
template <class T>
bool has_nan(const T* p, int64_t n) {
  int any = 0;  // an int, not a bool: GCC vectorizes an integer or-reduction
  for (int64_t k = 0; k < n; ++k) any |= static_cast<int>(p[k] != p[k]);
  return any != 0;
}

inline bool is_2x2(const PoolGeometry& g) { return g.k == 2 && g.stride == 2 && g.pad == 0; }

Shape pooled_shape(const Tensor& x, const PoolGeometry& g) { return {x.shape()[0], x.shape()[1], g.oh, g.ow}; }

// Values spaced 0.05 apart in a scrambled order: no two elements of a window within the
// finite-difference step of each other, so the winner never changes under gradcheck.
SampleInputs distinct_images(std::vector<Shape> shapes) {
  return [shapes](Dtype d, Generator& gen) {
    std::vector<OpSample> out;
    for (const Shape& s : shapes) {
      Tensor t = samples::uniform(s, 0, 1, d, gen);
      std::vector<double> v = t.to_vector<double>();
      const int64_t n = static_cast<int64_t>(v.size());
      // rank of each element in the uniform draw gives a random permutation of 0..n-1
      std::vector<int64_t> order(v.size());
      for (int64_t k = 0; k < n; ++k) order[static_cast<size_t>(k)] = k;
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return v[static_cast<size_t>(a)] < v[static_cast<size_t>(b)]; });
      std::vector<double> spaced(v.size());
      for (int64_t r = 0; r < n; ++r) spaced[static_cast<size_t>(order[static_cast<size_t>(r)])] = 0.05 * static_cast<double>(r) - 0.025 * static_cast<double>(n);
      out.push_back({{reshape(tensor_rank1(spaced, d), s.vec())}, "distinct values " + s.str()});
    }
    return out;
  };
}

SampleInputs unary_images() {
  return [](Dtype d, Generator& gen) {
    return std::vector<OpSample>{{{samples::normal({2, 2, 5, 5}, d, gen)}, "[2,2,5,5]"},
                                 {{samples::normal({1, 1, 4, 7}, d, gen)}, "[1,1,4,7], batch 1"}};
  };
}

// The samples of a backward op (grad, x), from its forward's: x as there (data: the gradient is
// linear in grad, and piecewise constant in x), grad normal of the output's shape (`pooled`) or x's.
std::vector<Sample<PoolArgs>> grad_samples(std::vector<Sample<PoolArgs>> forward, bool pooled) {
  for (Sample<PoolArgs>& s : forward) {
    s.inputs = [gen = s.inputs, args = s.args, pooled](Dtype d, Generator& g) {
      std::vector<OpSample> out = gen(d, g);
      for (OpSample& o : out) {
        PoolArgs a = args;
        const Tensor x = o.inputs[0];
        const Shape shape = pooled ? pooled_shape(x, pool_geometry("pool samples", x, a)) : x.shape();
        o.inputs = {samples::normal(shape, d, g), x};
      }
      return out;
    };
    s.zero_gradient_inputs = {1};
  }
  return forward;
}

std::vector<Sample<PoolArgs>> max_samples() {
  return {{.label = "kernel 2", .args = {2, 0, 0}, .inputs = distinct_images({{2, 2, 4, 4}, {1, 1, 5, 7}})},
          {.label = "kernel 3, stride 2, padding 1", .args = {3, 2, 1}, .inputs = distinct_images({{1, 2, 5, 6}})},
          {.label = "kernel 2, stride 1", .args = {2, 1, 0}, .inputs = distinct_images({{2, 1, 3, 4}})}};
}
std::vector<Sample<PoolArgs>> avg_samples() {
  return {{.label = "kernel 2", .args = {2, 0, 0}, .inputs = unary_images()},
          {.label = "kernel 3, stride 2, padding 1", .args = {3, 2, 1}, .inputs = unary_images()}};
}

// max_pool2d's backward: each window's gradient added to its winner in x.
// The planes (image, channel) run in parallel above kParallelElements: each is whole on one thread.
int plane_threads(const PoolGeometry& g) {
  return g.planes * g.h * g.w < kParallelElements ? 1 : num_threads();
}

Tensor max_route(const Tensor& grad, const Tensor& x, const PoolGeometry& g) {
  // 2x2 windows over even sizes cover every element once: each is written, no zero fill.
  const bool tiled = is_2x2(g) && g.h % 2 == 0 && g.w % 2 == 0;
  Tensor gx = tiled ? make_tensor(x.shape(), x.dtype(), "max_pool2d backward") : zeros(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for_parts(plane_threads(g), g.planes, [&](int64_t p, int) {
      const T* src = ptr<T>(x) + p * g.h * g.w;
      const T* gy = ptr<T>(grad) + p * g.oh * g.ow;
      T* dst = ptr<T>(gx) + p * g.h * g.w;
      if (tiled) {
        if (has_nan(src, g.h * g.w)) [[unlikely]] route_plane<true>(src, gy, dst, g);
        else route_plane<false>(src, gy, dst, g);
        return;
      }
      for_each_window(g, [&](int64_t o, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
        dst[winner(src, g.w, y0, y1, x0, x1)] += gy[o];
      });
    });
  });
  return gx;
}

// The adjoint of max_route: each window takes u at its winner (u of x's shape).
Tensor max_gather(const Tensor& u, const Tensor& x, const PoolGeometry& g) {
  Tensor out = make_tensor(pooled_shape(x, g), x.dtype(), "max_pool2d_gather");
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t p = 0; p < g.planes; ++p) {
      const T* src = ptr<T>(x) + p * g.h * g.w;
      const T* up = ptr<T>(u) + p * g.h * g.w;
      T* dst = ptr<T>(out) + p * g.oh * g.ow;
      for_each_window(g, [&](int64_t o, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
        dst[o] = up[winner(src, g.w, y0, y1, x0, x1)];
      });
    }
  });
  return out;
}

// avg_pool2d's backward: each window's gradient spread evenly over its kernel x kernel positions.
Tensor avg_spread(const Tensor& grad, const Tensor& x, const PoolGeometry& g) {
  Tensor gx = zeros(x.shape(), x.dtype());
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T inv = T(1) / static_cast<T>(g.k * g.k);
    for (int64_t p = 0; p < g.planes; ++p) {
      const T* gy = ptr<T>(grad) + p * g.oh * g.ow;
      T* dst = ptr<T>(gx) + p * g.h * g.w;
      for_each_window(g, [&](int64_t o, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
        const T share = gy[o] * inv;
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t xx = x0; xx < x1; ++xx) dst[y * g.w + xx] += share;
      });
    }
  });
  return gx;
}

// The ops, defined below: each backward calls another.
Tensor max_backward_op(Inputs in, const PoolArgs& a);
Tensor max_gather_op(Inputs in, const PoolArgs& a);
Tensor avg_pool_op(Inputs in, const PoolArgs& a);
Tensor avg_backward_op(Inputs in, const PoolArgs& a);

}  // namespace

// ---- max_pool2d: the gradient of each window goes to its winner ----
static const Op<PoolArgs> kMaxPool2d(
    {.name = "max_pool2d",
     .forward =
         [](Inputs in, PoolArgs& a) {
           const Tensor& x = in[0];
           const PoolGeometry g = pool_geometry("max_pool2d", x, a);
           Tensor out = make_tensor(pooled_shape(x, g), x.dtype(), "max_pool2d");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             for_parts(plane_threads(g), g.planes, [&](int64_t p, int) {
               const T* src = ptr<T>(x) + p * g.h * g.w;
               T* dst = ptr<T>(out) + p * g.oh * g.ow;
               if (is_2x2(g)) {
                 max_plane(src, dst, g);
                 return;
               }
               for_each_window(g, [&](int64_t o, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
                 dst[o] = src[winner(src, g.w, y0, y1, x0, x1)];
               });
             });
           });
           return out;
         },
     .backward =
         [](BackwardContext& c, const PoolArgs& a) { c.accumulate(0, max_backward_op({c.grad(), c.input(0)}, a)); },
     .samples = max_samples()});

// max_pool2d_backward(g, x): g routed to each window's winner in x. Its backward gathers the
// upstream at the same winners (x is data: the winners do not move under a small change).
static const Op<PoolArgs> kMaxPool2dBackward(
    {.name = "max_pool2d_backward",
     .forward =
         [](Inputs in, PoolArgs& a) {
           return max_route(in[0], in[1], pool_geometry("max_pool2d_backward", in[1], a, &in[0]));
         },
     .backward =
         [](BackwardContext& c, const PoolArgs& a) {
           if (c.needs_grad(0)) c.accumulate(0, max_gather_op({c.grad(), c.input(1)}, a));
         },
     .samples = grad_samples(max_samples(), true)});

// max_pool2d_gather(u, x): u at each window's winner in x, the adjoint of max_pool2d_backward.
static const Op<PoolArgs> kMaxPool2dGather(
    {.name = "max_pool2d_gather",
     .forward =
         [](Inputs in, PoolArgs& a) {
           return max_gather(in[0], in[1], pool_geometry("max_pool2d_gather", in[1], a, &in[0], false));
         },
     .backward =
         [](BackwardContext& c, const PoolArgs& a) {
           if (c.needs_grad(0)) c.accumulate(0, max_backward_op({c.grad(), c.input(1)}, a));
         },
     .samples = grad_samples(max_samples(), false)});

Tensor max_pool2d(const Tensor& x, Pool2dOptions o) { return kMaxPool2d({x}, {o.kernel, o.stride, o.padding}); }

// ---- avg_pool2d: each window's gradient is spread evenly over its kernel x kernel positions
// (padding counts: the divisor is always kernel^2) ----
static const Op<PoolArgs> kAvgPool2d(
    {.name = "avg_pool2d",
     .forward =
         [](Inputs in, PoolArgs& a) {
           const Tensor& x = in[0];
           const PoolGeometry g = pool_geometry("avg_pool2d", x, a);
           Tensor out = make_tensor(pooled_shape(x, g), x.dtype(), "avg_pool2d");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T inv = T(1) / static_cast<T>(g.k * g.k);
             for (int64_t p = 0; p < g.planes; ++p) {
               const T* src = ptr<T>(x) + p * g.h * g.w;
               T* dst = ptr<T>(out) + p * g.oh * g.ow;
               for_each_window(g, [&](int64_t o, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
                 T s = 0;
                 for (int64_t y = y0; y < y1; ++y)
                   for (int64_t xx = x0; xx < x1; ++xx) s += src[y * g.w + xx];
                 dst[o] = s * inv;
               });
             }
           });
           return out;
         },
     .backward =
         [](BackwardContext& c, const PoolArgs& a) { c.accumulate(0, avg_backward_op({c.grad(), c.input(0)}, a)); },
     .samples = avg_samples()});

// avg_pool2d_backward(g, x): g spread over the windows (x gives only the shape). Linear in g, the
// adjoint of avg_pool2d: its backward is avg_pool2d of the upstream.
static const Op<PoolArgs> kAvgPool2dBackward(
    {.name = "avg_pool2d_backward",
     .forward =
         [](Inputs in, PoolArgs& a) {
           return avg_spread(in[0], in[1], pool_geometry("avg_pool2d_backward", in[1], a, &in[0]));
         },
     .backward =
         [](BackwardContext& c, const PoolArgs& a) {
           if (c.needs_grad(0)) c.accumulate(0, avg_pool_op({c.grad()}, a));
         },
     .samples = grad_samples(avg_samples(), true)});

namespace {
Tensor max_backward_op(Inputs in, const PoolArgs& a) { return kMaxPool2dBackward(in, a); }
Tensor max_gather_op(Inputs in, const PoolArgs& a) { return kMaxPool2dGather(in, a); }
Tensor avg_pool_op(Inputs in, const PoolArgs& a) { return kAvgPool2d(in, a); }
Tensor avg_backward_op(Inputs in, const PoolArgs& a) { return kAvgPool2dBackward(in, a); }
}  // namespace

Tensor avg_pool2d(const Tensor& x, Pool2dOptions o) { return kAvgPool2d({x}, {o.kernel, o.stride, o.padding}); }

}  // namespace tapegrad
