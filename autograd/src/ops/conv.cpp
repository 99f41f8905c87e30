// conv2d on NCHW images, as matrix products over an im2col buffer: for each image, the columns
// of `cols` [C kh kw, OH OW] are the input patches under each output position, so that
// out = W cols with W viewed as [O, C kh kw]. The backward is two more products through the same
// buffer (recomputed, not kept: it is kh kw times the input): dW = g cols^T is the correlation of
// the input with the output gradient, and dx = col2im(W^T g) is the transposed convolution.
// The per-image buffers are small enough to stay in cache; see docs/performance.md for the choice
// against oneDNN's convolution primitives.
// dx, dW and db are ops of their own, conv2d_input_grad, conv2d_weight_grad and conv2d_bias_grad
// (a plain pass runs their kernels; create_graph records them): the first two are bilinear, and
// their backwards are conv2d and each other, as in PyTorch's convolution_backward.
#include <algorithm>
#include <cstring>
#include <utility>

#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/loops.h"
#include "ops/parallel.h"
#include "tapegrad/core/threads.h"

namespace tapegrad {

using namespace detail;

namespace {

struct ConvArgs {
  int64_t stride, padding, dilation;
  bool bf16 = false;  // bfloat16 operands (recorded under autocast)
};

// "conv2d: <what> (x [..], weight [..], stride=.., padding=.., dilation=..)": the op's name first, as
// every op's errors, then what is wrong, then the whole call.
[[noreturn]] void conv_error(const Tensor& x, const Tensor& w, const ConvArgs& a, const std::string& what) {
  throw Error("conv2d: " + what + " (x " + x.shape().str() + ", weight " + w.shape().str() + ", stride=" +
              std::to_string(a.stride) + ", padding=" + std::to_string(a.padding) + ", dilation=" +
              std::to_string(a.dilation) + ")");
}

// The sizes of a convolution of an input [N, C, H, W] with a weight [O, C, kh, kw] (both 4-D), checked;
// fail(what) throws the calling op's error.
template <class Fail>
ConvGeometry geometry(const Shape& x, const Shape& w, const ConvArgs& a, Fail fail) {
  if (w[1] != x[1])
    fail("the weight expects " + std::to_string(w[1]) + " input channels, x has " + std::to_string(x[1]));
  if (a.stride < 1 || a.padding < 0 || a.dilation < 1) fail("expected stride >= 1, padding >= 0 and dilation >= 1");
  ConvGeometry g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, a.stride, a.padding, a.dilation};
  const int64_t span_h = a.dilation * (g.kh - 1) + 1, span_w = a.dilation * (g.kw - 1) + 1;
  if (g.h + 2 * g.pad < span_h || g.w + 2 * g.pad < span_w)
    fail("the kernel spans " + std::to_string(span_h) + "x" + std::to_string(span_w) +
         ", larger than the padded input " + std::to_string(g.h + 2 * g.pad) + "x" + std::to_string(g.w + 2 * g.pad));
  g.oh = (g.h + 2 * g.pad - span_h) / g.stride + 1;
  g.ow = (g.w + 2 * g.pad - span_w) / g.stride + 1;
  return g;
}

ConvGeometry conv_geometry(Inputs in, const ConvArgs& a) {
  const Tensor& x = in[0];
  const Tensor& w = in[1];
  same_dtype("conv2d", x, w);
  if (x.dim() != 4) conv_error(x, w, a, "x must be [N, C, H, W]");
  if (w.dim() != 4) conv_error(x, w, a, "weight must be [out_channels, in_channels, kh, kw]");
  if (in.size() == 3) {
    same_dtype("conv2d", x, in[2]);
    if (in[2].dim() != 1 || in[2].shape()[0] != w.shape()[0])
      conv_error(x, w, a, "bias has shape " + in[2].shape().str() + ", expected [" + std::to_string(w.shape()[0]) + "]");
  }
  return geometry(x.shape(), w.shape(), a, [&](const std::string& what) { conv_error(x, w, a, what); });
}

// The arguments of the two halves of conv2d's backward: conv2d's, and the spatial size (h, w) of
// the operand the op does not take (the input's for conv2d_input_grad, the kernel's for
// conv2d_weight_grad), which the other two shapes do not determine (stride 2 drops rows).
struct ConvGradArgs {
  int64_t stride, padding, dilation, h, w;
  bool bf16 = false;
};
ConvArgs conv_args(const ConvGradArgs& a) { return {a.stride, a.padding, a.dilation, a.bf16}; }

// "<op>: <what> (grad [..], weight [..], input 5x5, stride=..)": both inputs and the size argument.
[[noreturn]] void grad_error(const char* op, const char* an, const Tensor& a, const char* bn, const Tensor& b,
                             const char* size_name, const ConvGradArgs& args, const std::string& what) {
  throw Error(std::string(op) + ": " + what + " (" + an + " " + a.shape().str() + ", " + bn + " " + b.shape().str() +
              ", " + size_name + " " + std::to_string(args.h) + "x" + std::to_string(args.w) + ", stride=" +
              std::to_string(args.stride) + ", padding=" + std::to_string(args.padding) + ", dilation=" +
              std::to_string(args.dilation) + ")");
}

// conv2d_input_grad(g, w): g [N, O, OH, OW] the upstream of conv2d(x, w) for x [N, C, h, w].
ConvGeometry input_grad_geometry(Inputs in, const ConvGradArgs& a) {
  const Tensor& gy = in[0];
  const Tensor& w = in[1];
  auto fail = [&](const std::string& what) {
    grad_error("conv2d_input_grad", "grad", gy, "weight", w, "input", a, what);
  };
  same_dtype("conv2d_input_grad", gy, w);
  if (gy.dim() != 4) fail("grad must be [N, out_channels, OH, OW]");
  if (w.dim() != 4) fail("weight must be [out_channels, in_channels, kh, kw]");
  if (gy.shape()[1] != w.shape()[0])
    fail("grad has " + std::to_string(gy.shape()[1]) + " channels, the weight " + std::to_string(w.shape()[0]) +
         " output channels");
  if (a.h < 1 || a.w < 1) fail("expected an input size of at least 1x1");
  const ConvGeometry g = geometry(Shape{gy.shape()[0], w.shape()[1], a.h, a.w}, w.shape(), conv_args(a), fail);
  if (gy.shape()[2] != g.oh || gy.shape()[3] != g.ow)
    fail("grad must be [" + std::to_string(g.n) + ", " + std::to_string(g.o) + ", " + std::to_string(g.oh) + ", " +
         std::to_string(g.ow) + "], the output's shape");
  return g;
}

// conv2d_weight_grad(x, g): g [N, O, OH, OW] the upstream of conv2d(x, w) for w [O, C, h, w].
ConvGeometry weight_grad_geometry(Inputs in, const ConvGradArgs& a) {
  const Tensor& x = in[0];
  const Tensor& gy = in[1];
  auto fail = [&](const std::string& what) {
    grad_error("conv2d_weight_grad", "x", x, "grad", gy, "kernel", a, what);
  };
  same_dtype("conv2d_weight_grad", x, gy);
  if (x.dim() != 4) fail("x must be [N, C, H, W]");
  if (gy.dim() != 4) fail("grad must be [N, out_channels, OH, OW]");
  if (gy.shape()[0] != x.shape()[0])
    fail("grad holds " + std::to_string(gy.shape()[0]) + " images, x " + std::to_string(x.shape()[0]));
  if (a.h < 1 || a.w < 1) fail("expected a kernel size of at least 1x1");
  const ConvGeometry g = geometry(x.shape(), Shape{gy.shape()[1], x.shape()[1], a.h, a.w}, conv_args(a), fail);
  if (gy.shape()[2] != g.oh || gy.shape()[3] != g.ow)
    fail("grad must be [" + std::to_string(g.n) + ", " + std::to_string(g.o) + ", " + std::to_string(g.oh) + ", " +
         std::to_string(g.ow) + "], the output's shape");
  return g;
}

// The output columns ox whose input column ox stride - pad + j dil lies in [0, w): [lo, hi).
inline void valid_range(int64_t j, int64_t w, int64_t ow, const ConvGeometry& g, int64_t& lo, int64_t& hi) {
  const int64_t off = g.pad - j * g.dil;  // ix = ox stride - off
  lo = off <= 0 ? 0 : (off + g.stride - 1) / g.stride;
  hi = w - 1 + off < 0 ? 0 : (w - 1 + off) / g.stride + 1;
  lo = std::min(lo, ow);
  hi = std::clamp(hi, lo, ow);
}

// A "same" convolution (stride 1, output as large as the input: 3x3 with padding 1) reads each
// tap's row of cols as the input plane shifted by a constant offset, so a whole plane is one
// copy (or one add, in col2im) instead of one per output row of 14 or 28 elements; the entries
// that fall outside the image are then fixed up column by column.
bool is_same(const ConvGeometry& g) { return g.stride == 1 && g.oh == g.h && g.ow == g.w; }

// For tap (i, j) of a same convolution: the shift from output to input index within a plane,
// the output rows [y0, y1) that read inside the image, and the valid output columns [lo, hi).
struct TapSpan {
  int64_t shift, y0, y1, lo, hi;
};
TapSpan tap_span(const ConvGeometry& g, int64_t i, int64_t j) {
  const int64_t dy = i * g.dil - g.pad, dx = j * g.dil - g.pad;
  TapSpan t{dy * g.w + dx, std::max<int64_t>(0, -dy), std::min(g.h, g.h - dy), 0, 0};
  t.y1 = std::max(t.y1, t.y0);
  valid_range(j, g.w, g.ow, g, t.lo, t.hi);
  return t;
}

// cols[(ci kh + i) kw + j][oy ow + ox] = x[ci][oy stride - pad + i dil][ox stride - pad + j dil],
// zero outside the image.
template <class T>
void im2col(const T* x, const ConvGeometry& g, T* cols) {
  const int64_t P = g.positions();
  if (is_same(g)) {
    for (int64_t ci = 0; ci < g.c; ++ci)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          T* row = cols + ((ci * g.kh + i) * g.kw + j) * P;
          const T* plane = x + ci * g.h * g.w;
          const TapSpan t = tap_span(g, i, j);
          std::fill(row, row + t.y0 * g.w, T(0));
          std::fill(row + t.y1 * g.w, row + P, T(0));
          // The copy stays inside the plane; what it skips or wraps into lies in invalid columns.
          const int64_t k0 = std::max(t.y0 * g.w, -t.shift), k1 = std::min(t.y1 * g.w, P - t.shift);
          if (k1 > k0) std::memcpy(row + k0, plane + k0 + t.shift, static_cast<size_t>(k1 - k0) * sizeof(T));
          for (int64_t oy = t.y0; oy < t.y1; ++oy) {
            std::fill(row + oy * g.w, row + oy * g.w + t.lo, T(0));
            std::fill(row + oy * g.w + t.hi, row + (oy + 1) * g.w, T(0));
          }
        }
    return;
  }
  for (int64_t ci = 0; ci < g.c; ++ci)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = cols + ((ci * g.kh + i) * g.kw + j) * P;
        int64_t lo, hi;
        valid_range(j, g.w, g.ow, g, lo, hi);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          T* out = row + oy * g.ow;
          const int64_t iy = oy * g.stride - g.pad + i * g.dil;
          if (iy < 0 || iy >= g.h) {
            std::fill(out, out + g.ow, T(0));
            continue;
          }
          // Output column ox reads input column ox stride - off, off = pad - j dil.
          const T* src = x + (ci * g.h + iy) * g.w;
          const int64_t off = g.pad - j * g.dil;
          std::fill(out, out + lo, T(0));
          if (g.stride == 1 && hi > lo) std::memcpy(out + lo, src + (lo - off), static_cast<size_t>(hi - lo) * sizeof(T));
          else
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] = src[ox * g.stride - off];
          std::fill(out + hi, out + g.ow, T(0));
        }
      }
}

// The adjoint of im2col: adds each column entry back into the input position it was read from.
// Clobbers `cols` (a scratch buffer): the same path zeroes its entries outside the image first.
template <class T>
void col2im(T* cols, const ConvGeometry& g, T* x) {
  const int64_t P = g.positions();
  std::fill(x, x + g.c * g.h * g.w, T(0));
  if (is_same(g)) {
    for (int64_t ci = 0; ci < g.c; ++ci)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          T* row = cols + ((ci * g.kh + i) * g.kw + j) * P;
          T* plane = x + ci * g.h * g.w;
          const TapSpan t = tap_span(g, i, j);
          for (int64_t oy = t.y0; oy < t.y1; ++oy) {
            std::fill(row + oy * g.w, row + oy * g.w + t.lo, T(0));
            std::fill(row + oy * g.w + t.hi, row + (oy + 1) * g.w, T(0));
          }
          const int64_t k0 = std::max(t.y0 * g.w, -t.shift), k1 = std::min(t.y1 * g.w, P - t.shift);
          for (int64_t k = k0; k < k1; ++k) plane[k + t.shift] += row[k];
        }
    return;
  }
  for (int64_t ci = 0; ci < g.c; ++ci)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = cols + ((ci * g.kh + i) * g.kw + j) * P;
        int64_t lo, hi;
        valid_range(j, g.w, g.ow, g, lo, hi);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.stride - g.pad + i * g.dil;
          if (iy < 0 || iy >= g.h) continue;
          const T* in = row + oy * g.ow;
          T* dst = x + (ci * g.h + iy) * g.w;
          const int64_t off = g.pad - j * g.dil;
          for (int64_t ox = lo; ox < hi; ++ox) dst[ox * g.stride - off] += in[ox];
        }
      }
}

// A 1x1 convolution with stride 1 and no padding reads the image itself as its columns.
bool is_pointwise(const ConvGeometry& g) { return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0; }

// The images run in parallel, each whole on one thread (its im2col buffer, its products), when
// the call is large enough to pay for the fork (as gemm.cpp's rule for one product).
constexpr double kParallelWork = double(1 << 23);
int threads_for(const ConvGeometry& g) {
  const double work = double(g.n) * double(g.o) * double(g.taps()) * double(g.positions());
  return work < kParallelWork || g.n < 2 ? 1 : static_cast<int>(std::min<int64_t>(num_threads(), g.n));
}

// Under autocast, the float32 weights rounded to bfloat16 once for all the images' products.
Tensor rounded_weights(const Tensor& w, bool bf16) {
  if (!bf16 || w.dtype() != Dtype::f32) return Tensor();
  Tensor bits = make_tensor({w.numel()}, Dtype::bf16, "conv2d");
  round_to_bf16(ptr<float>(w), w.numel(), ptr<uint16_t>(bits));
  return bits;
}

// Under autocast, a float32 operand rounded to bfloat16 values and kept in float32, for oneDNN's
// float32 direct convolution: a product of two bfloat16 values is exact in float32, so this is
// autocast's convolution (bfloat16 operands, float32 sums), and it measured faster than oneDNN's
// bfloat16 convolutions on a processor with AVX512-BF16 but no AMX (benchmarks/conv_backends.cpp:
// the CNN's second layer, fwd+bwd, 11.5 ms in float32 with reorders, 18.2 ms in bfloat16).
Tensor autocast_operand(const Tensor& t, bool bf16) {
  if (!bf16) return t;
  Tensor out = make_tensor(t.shape(), Dtype::f32, "conv2d");
  const float* p = ptr<float>(t);
  float* q = ptr<float>(out);
  for_ranges(t.numel(), [=](int64_t lo, int64_t hi) { round_floats(p + lo, hi - lo, q + lo); });
  return out;
}

Tensor conv_forward(Inputs in, ConvArgs& a) {
  const ConvGeometry g = conv_geometry(in, a);
  const Tensor& x = in[0];
  Tensor out = make_tensor({g.n, g.o, g.oh, g.ow}, x.dtype(), "conv2d");
  const int threads = threads_for(g);
  if (x.dtype() == Dtype::f32 && dnnl_conv_takes(g)) {
    const Tensor xs = autocast_operand(x, a.bf16), ws = autocast_operand(in[1], a.bf16);
    if (dnnl_conv2d(g, ptr<float>(xs), ptr<float>(ws), in.size() == 3 ? ptr<float>(in[2]) : nullptr, ptr<float>(out),
                    threads))
      return out;
  }
  const bool direct = is_pointwise(g);
  Tensor cols = direct ? Tensor() : make_tensor({threads, g.taps(), g.positions()}, x.dtype(), "conv2d");
  const Tensor wbits = rounded_weights(in[1], a.bf16);
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = ptr<T>(x);
    const T* wp = ptr<T>(in[1]);
    const uint16_t* wb = wbits.defined() ? ptr<uint16_t>(wbits) : nullptr;
    T* op = ptr<T>(out);
    const int64_t image = g.c * g.h * g.w, P = g.positions();
    for_parts(threads, g.n, [&](int64_t n, int t) {
      const T* c = xp + n * image;
      if (!direct) {
        T* mine = ptr<T>(cols) + t * g.taps() * P;
        im2col(c, g, mine);
        c = mine;
      }
      T* y = op + n * g.o * P;
      product<T>(a.bf16, false, false, g.o, P, g.taps(), wp, c, T(0), y, wb);
      if (in.size() == 3) {
        const T* b = ptr<T>(in[2]);
        for (int64_t o = 0; o < g.o; ++o)
          for (int64_t p = 0; p < P; ++p) y[o * P + p] += b[o];
      }
    });
  });
  return out;
}

// The weight gradient sums over the images. So that the sum does not depend on the thread count,
// the images are cut into a fixed number of chunks (of the batch, not of the threads: conv_chunks),
// each summed into a partial of its own, and the partials are added in chunk order.

// conv2d's gradients for the upstream `grad`, into those of gx, gw that are asked for, in one
// pass over the images through an im2col buffer per thread: dx = col2im(W^T g) reads only w,
// dW = g cols^T only x (the other may be undefined). The forwards of conv2d_input_grad and
// conv2d_weight_grad.
void conv_grads(const Tensor& grad, const Tensor& x, const Tensor& w, const ConvGeometry& g, bool bf16,
                Tensor* gx_out, Tensor* gw_out) {
  const Dtype dtype = grad.dtype();
  const int threads = threads_for(g);
  if (dtype == Dtype::f32 && dnnl_conv_takes(g)) {  // oneDNN's direct convolutions, where they take the pass
    const Tensor gs = autocast_operand(grad, bf16);
    if (gx_out) {
      Tensor gx = make_tensor({g.n, g.c, g.h, g.w}, dtype, "conv2d backward");
      const Tensor ws = autocast_operand(w, bf16);
      if (dnnl_conv2d_input_grad(g, ptr<float>(gs), ptr<float>(ws), ptr<float>(gx), threads))
        *std::exchange(gx_out, nullptr) = std::move(gx);
    }
    if (gw_out) {
      Tensor gw = make_tensor({g.o, g.c, g.kh, g.kw}, dtype, "conv2d backward");
      const Tensor xs = autocast_operand(x, bf16);
      if (dnnl_conv2d_weight_grad(g, ptr<float>(xs), ptr<float>(gs), ptr<float>(gw), threads))
        *std::exchange(gw_out, nullptr) = std::move(gw);
    }
    if (!gx_out && !gw_out) return;
  }
  const bool direct = is_pointwise(g);
  const bool need_x = gx_out != nullptr, need_w = gw_out != nullptr;
  const int64_t chunks = conv_chunks(g.n);
  Tensor gx = need_x ? make_tensor({g.n, g.c, g.h, g.w}, dtype, "conv2d backward") : Tensor();
  Tensor gw = need_w ? make_tensor({g.o, g.c, g.kh, g.kw}, dtype, "conv2d backward") : Tensor();
  // The GEMM copies its transposed operand first, so the weight gradient is summed as whichever
  // of dW = g cols^T and dW^T = cols g^T transposes the smaller matrix: cols when it has fewer
  // rows than g (the first layer: 9 taps, 32 channels), g otherwise (288 taps, 64 channels).
  const bool via_transpose = g.taps() > g.o;
  const int64_t wsize = g.o * g.taps();
  Tensor partials = need_w && chunks > 0 ? make_tensor({chunks, wsize}, dtype, "conv2d backward") : Tensor();
  Tensor cols = direct ? Tensor() : make_tensor({threads, g.taps(), g.positions()}, dtype, "conv2d backward");
  const Tensor wbits = need_x ? rounded_weights(w, bf16) : Tensor();
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* gp = ptr<T>(grad);
    const T* xp = need_w ? ptr<T>(x) : nullptr;
    const T* wp = need_x ? ptr<T>(w) : nullptr;
    const uint16_t* wb = wbits.defined() ? ptr<uint16_t>(wbits) : nullptr;
    const int64_t image = g.c * g.h * g.w, P = g.positions();
    for_parts(threads, chunks, [&](int64_t chunk, int t) {
      T* mine = direct ? nullptr : ptr<T>(cols) + t * g.taps() * P;
      T* part = need_w ? ptr<T>(partials) + chunk * wsize : nullptr;
      const int64_t first = g.n * chunk / chunks, last = g.n * (chunk + 1) / chunks;
      for (int64_t n = first; n < last; ++n) {
        const T* gy = gp + n * g.o * P;
        if (need_w) {
          const T* cn = xp + n * image;
          if (!direct) {
            im2col(cn, g, mine);
            cn = mine;
          }
          const T beta = n == first ? T(0) : T(1);
          if (via_transpose) product<T>(bf16, false, true, g.taps(), g.o, P, cn, gy, beta, part);
          else product<T>(bf16, false, true, g.o, g.taps(), P, gy, cn, beta, part);
        }
        if (need_x) {
          T* dx = ptr<T>(gx) + n * image;
          if (direct) {
            product<T>(bf16, true, false, g.taps(), P, g.o, wp, gy, T(0), dx, wb);
          } else {
            product<T>(bf16, true, false, g.taps(), P, g.o, wp, gy, T(0), mine, wb);
            col2im(mine, g, dx);
          }
        }
      }
    });
    if (need_w) {
      T* d = ptr<T>(gw);
      const T* p = chunks > 0 ? ptr<T>(partials) : nullptr;
      if (via_transpose && chunks > 0) {  // the partials' sum, transposed back
        for (int64_t o = 0; o < g.o; ++o)
          for (int64_t k = 0; k < g.taps(); ++k) {
            T sum = p[k * g.o + o];
            for (int64_t c = 1; c < chunks; ++c) sum += p[c * wsize + k * g.o + o];
            d[o * g.taps() + k] = sum;
          }
      } else if (chunks > 0) {
        std::copy(p, p + wsize, d);
        for (int64_t c = 1; c < chunks; ++c)
          for (int64_t k = 0; k < wsize; ++k) d[k] += p[c * wsize + k];
      } else {  // no image: no gradient
        std::fill(d, d + wsize, T(0));
      }
    }
  });
  if (need_x) *gx_out = std::move(gx);
  if (need_w) *gw_out = std::move(gw);
}

// conv2d_bias_grad(g): the upstream [N, O, OH, OW] summed per channel, each sum in double; the
// channels on the threads when large (each sum whole on one).
Tensor bias_grad_forward(Inputs in) {
  const Tensor& grad = in[0];
  if (grad.dim() != 4)
    throw Error("conv2d_bias_grad: expected the output's gradient [N, O, OH, OW], got shape " + grad.shape().str());
  const int64_t n = grad.shape()[0], o = grad.shape()[1], positions = grad.shape()[2] * grad.shape()[3];
  Tensor gb = make_tensor({o}, grad.dtype(), "conv2d backward");
  dispatch(grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gp = ptr<T>(grad);
    T* bp = ptr<T>(gb);
    const int threads = n * o * positions < kParallelElements ? 1 : num_threads();
    for_parts(threads, o, [&](int64_t k, int) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += accurate_sum(gp + (i * o + k) * positions, positions);
      bp[k] = static_cast<T>(s);
    });
  });
  return gb;
}
// Linear: the upstream [O] broadcast back over images and positions.
void bias_grad_backward(BackwardContext& c) {
  const Shape& shape = c.input(0).shape();
  c.accumulate(0, broadcast_to(reshape(c.grad(), {1, shape[1], 1, 1}), shape));
}

// The ops, defined below the samples: each backward calls the others.
Tensor conv2d_op(Inputs in, const ConvArgs& a);
Tensor input_grad_op(Inputs in, const ConvGradArgs& a);
Tensor weight_grad_op(Inputs in, const ConvGradArgs& a);

Tensor bias_grad_op(const Tensor& grad);

// Three ops (dx and dW through an im2col buffer each, db a sum), so that each is differentiable
// again.
void conv_backward(BackwardContext& c, const ConvArgs& a) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  const ConvGeometry g = conv_geometry({x, w}, a);
  if (c.needs_grad(0))
    c.accumulate(0, input_grad_op({c.grad(), w}, {a.stride, a.padding, a.dilation, g.h, g.w, a.bf16}));
  if (c.needs_grad(1))
    c.accumulate(1, weight_grad_op({x, c.grad()}, {a.stride, a.padding, a.dilation, g.kh, g.kw, a.bf16}));
  if (c.inputs() == 3 && c.needs_grad(2)) c.accumulate(2, bias_grad_op(c.grad()));
}

Tensor input_grad_forward(Inputs in, ConvGradArgs& a) {
  const ConvGeometry g = input_grad_geometry(in, a);
  Tensor gx;
  conv_grads(in[0], Tensor(), in[1], g, a.bf16, &gx, nullptr);
  return gx;
}

Tensor weight_grad_forward(Inputs in, ConvGradArgs& a) {
  const ConvGeometry g = weight_grad_geometry(in, a);
  Tensor gw;
  conv_grads(in[1], in[0], Tensor(), g, a.bf16, nullptr, &gw);
  return gw;
}

// For an upstream u of dx = input_grad(g, w) (the adjoint of x -> conv2d(x, w)):
// d/dg = conv2d(u, w) and d/dw = weight_grad(u, g), from <u, input_grad(g, w)> = <g, conv2d(u, w)>.
void input_grad_backward(BackwardContext& c, const ConvGradArgs& a) {
  const Tensor& w = c.input(1);
  if (c.needs_grad(0)) c.accumulate(0, conv2d_op({c.grad(), w}, conv_args(a)));
  if (c.needs_grad(1)) {
    const ConvGradArgs kernel{a.stride, a.padding, a.dilation, w.shape()[2], w.shape()[3], a.bf16};
    c.accumulate(1, weight_grad_op({c.grad(), c.input(0)}, kernel));
  }
}

// For an upstream u of dW = weight_grad(x, g), from <u, weight_grad(x, g)> = <g, conv2d(x, u)>:
// d/dx = input_grad(g, u) and d/dg = conv2d(x, u).
void weight_grad_backward(BackwardContext& c, const ConvGradArgs& a) {
  const Tensor& x = c.input(0);
  if (c.needs_grad(0)) {
    const ConvGradArgs input{a.stride, a.padding, a.dilation, x.shape()[2], x.shape()[3], a.bf16};
    c.accumulate(0, input_grad_op({c.input(1), c.grad()}, input));
  }
  if (c.needs_grad(1)) c.accumulate(1, conv2d_op({x, c.grad()}, conv_args(a)));
}

// Samples: padding, stride, dilation, odd sizes, rectangular kernels, channels > 1, batch 1,
// with and without bias, and the 1x1 shortcut; the two backward ops take the same calls, with
// the output's gradient in place of one operand.
struct ConvCase {
  const char* label;
  ConvArgs args;
  Shape x, w;
  bool bias;
};
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases{
      {"3x3, padding 1", {1, 1, 1}, {2, 2, 5, 5}, {3, 2, 3, 3}, true},
      {"stride 2, odd sizes, no bias", {2, 0, 1}, {1, 3, 7, 6}, {2, 3, 3, 2}, false},
      {"stride 2, padding 1", {2, 1, 1}, {2, 1, 6, 5}, {2, 1, 3, 3}, true},
      {"dilation 2, padding 2, batch 1", {1, 2, 2}, {1, 2, 5, 6}, {2, 2, 3, 3}, true},
      {"1x1", {1, 0, 1}, {2, 3, 3, 4}, {4, 3, 1, 1}, true}};
  return cases;
}

std::vector<Sample<ConvArgs>> conv_samples() {
  std::vector<Sample<ConvArgs>> out;
  for (const ConvCase& k : conv_cases()) {
    SampleInputs inputs = [x = k.x, w = k.w, bias = k.bias](Dtype d, Generator& gen) {
      std::vector<Tensor> in{samples::normal(x, d, gen), samples::normal(w, d, gen)};
      if (bias) in.push_back(samples::normal({w[0]}, d, gen));
      return std::vector<OpSample>{{in, "x " + x.str() + ", weight " + w.str() + (bias ? ", bias" : "")}};
    };
    out.push_back({.label = k.label, .args = k.args, .inputs = std::move(inputs)});
  }
  return out;
}

// input_grad(g, w) when `input`, else weight_grad(x, g).
std::vector<Sample<ConvGradArgs>> grad_samples(bool input) {
  std::vector<Sample<ConvGradArgs>> out;
  for (const ConvCase& k : conv_cases()) {
    const ConvArgs& a = k.args;
    const ConvGeometry g = geometry(k.x, k.w, a, [](const std::string& what) { throw Error("conv2d: " + what); });
    const Shape y{g.n, g.o, g.oh, g.ow};
    SampleInputs inputs = [x = k.x, w = k.w, y, input](Dtype d, Generator& gen) {
      if (input)
        return std::vector<OpSample>{
            {{samples::normal(y, d, gen), samples::normal(w, d, gen)}, "grad " + y.str() + ", weight " + w.str()}};
      return std::vector<OpSample>{
          {{samples::normal(x, d, gen), samples::normal(y, d, gen)}, "x " + x.str() + ", grad " + y.str()}};
    };
    out.push_back({.label = k.label,
                   .args = {a.stride, a.padding, a.dilation, input ? g.h : g.kh, input ? g.w : g.kw},
                   .inputs = std::move(inputs)});
  }
  return out;
}

// conv2d_bias_grad(g) for the output gradients of the cases with a bias.
std::vector<Sample<void>> bias_grad_samples() {
  return {{.inputs = [](Dtype d, Generator& gen) {
    std::vector<OpSample> out;
    for (const ConvCase& k : conv_cases()) {
      if (!k.bias) continue;
      const ConvGeometry g = geometry(k.x, k.w, k.args, [](const std::string& what) { throw Error("conv2d: " + what); });
      const Shape y{g.n, g.o, g.oh, g.ow};
      out.push_back({{samples::normal(y, d, gen)}, std::string(k.label) + ": grad " + y.str()});
    }
    return out;
  }}};
}

}  // namespace

static const Op<ConvArgs> kConv2d({.name = "conv2d", .forward = conv_forward, .backward = conv_backward,
                                   .samples = conv_samples(),
                                   .autocast = record_autocast<ConvArgs>});

// dx of conv2d: the transposed convolution of the output's gradient.
static const Op<ConvGradArgs> kConv2dInputGrad({.name = "conv2d_input_grad", .forward = input_grad_forward,
                                                .backward = input_grad_backward, .samples = grad_samples(true),
                                                .autocast = record_autocast<ConvGradArgs>});
// dW of conv2d: the correlation of the input with the output's gradient.
static const Op<ConvGradArgs> kConv2dWeightGrad({.name = "conv2d_weight_grad", .forward = weight_grad_forward,
                                                 .backward = weight_grad_backward, .samples = grad_samples(false),
                                                 .autocast = record_autocast<ConvGradArgs>});

// db of conv2d.
static const Op<void> kConv2dBiasGrad({.name = "conv2d_bias_grad", .forward = bias_grad_forward,
                                       .backward = bias_grad_backward, .samples = bias_grad_samples()});

namespace {
Tensor conv2d_op(Inputs in, const ConvArgs& a) { return kConv2d(in, a); }
Tensor bias_grad_op(const Tensor& grad) { return kConv2dBiasGrad({grad}); }
Tensor input_grad_op(Inputs in, const ConvGradArgs& a) { return kConv2dInputGrad(in, a); }
Tensor weight_grad_op(Inputs in, const ConvGradArgs& a) { return kConv2dWeightGrad(in, a); }
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Conv2dOptions options) {
  const ConvArgs a{options.stride, options.padding, options.dilation, autocast_bf16};
  if (!bias.defined()) return kConv2d({x, weight}, a);
  return kConv2d({x, weight, bias}, a);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, Conv2dOptions options) {
  return kConv2d({x, weight}, {options.stride, options.padding, options.dilation, autocast_bf16});
}

}  // namespace tapegrad
