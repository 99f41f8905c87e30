// batch_norm as one node per call. Channel statistics are summed in double whatever
// the dtype (a float32 sum over a batch of 64 feature maps of 28x28 is 50,000 terms). The node
// keeps only its inputs: the backward recomputes the batch mean and variance from x, one pass,
// instead of keeping two more tensors alive per layer.
#include <cmath>

#include "ops/loops.h"

namespace tapegrad {

using namespace detail;

namespace {

struct NormArgs {
  bool training;
  double eps;
};

// x [N, C, ...] as channels of M = N S values, S the product of the axes after the channel.
struct Channels {
  int64_t n = 0, c = 0, s = 1;
  int64_t m() const { return n * s; }
  // Calls f(k) for the flat index k of each value of channel `ch`.
  template <class F>
  void each(int64_t ch, F f) const {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t base = (i * c + ch) * s;
      for (int64_t j = 0; j < s; ++j) f(base + j);
    }
  }
};

Channels channels(Inputs in, const NormArgs& a) {
  const Tensor& x = in[0];
  if (x.dim() < 2) throw Error("batch_norm: x must be [N, C] or [N, C, ...], got " + x.shape().str());
  Channels ch{x.shape()[0], x.shape()[1], 1};
  for (size_t d = 2; d < x.shape().size(); ++d) ch.s *= x.shape()[d];
  const char* names[] = {"x", "weight", "bias", "running_mean", "running_var"};
  for (size_t i = 1; i < in.size(); ++i) {
    same_dtype("batch_norm", x, in[i]);
    if (in[i].dim() != 1 || in[i].shape()[0] != ch.c)
      throw Error(std::string("batch_norm: ") + names[i] + " has shape " + in[i].shape().str() + ", expected [" +
                  std::to_string(ch.c) + "] for x " + x.shape().str());
  }
  if (a.training && ch.m() < 2)
    throw Error("batch_norm: training mode needs more than one value per channel to estimate a variance, got x " +
                x.shape().str());
  return ch;
}

// The batch mean and biased variance of channel `c` (two passes: no cancellation).
template <class T>
void batch_stats(const T* x, const Channels& ch, int64_t c, double& mean, double& var) {
  double s = 0;
  ch.each(c, [&](int64_t k) { s += static_cast<double>(x[k]); });
  mean = s / static_cast<double>(ch.m());
  double q = 0;
  ch.each(c, [&](int64_t k) {
    const double d = static_cast<double>(x[k]) - mean;
    q += d * d;
  });
  var = q / static_cast<double>(ch.m());
}

// The mean and 1/sqrt(var + eps) that normalise channel `c`: the batch's in training mode, the
// running ones (inputs 3 and 4) in eval mode.
template <class T>
void norm_stats(Inputs in, const Channels& ch, const NormArgs& a, int64_t c, double& mean, double& invstd) {
  double var;
  if (a.training) {
    batch_stats(ptr<T>(in[0]), ch, c, mean, var);
  } else {
    mean = static_cast<double>(ptr<T>(in[3])[c]);
    var = static_cast<double>(ptr<T>(in[4])[c]);
  }
  invstd = 1.0 / std::sqrt(var + a.eps);
}

Tensor norm_forward(Inputs in, NormArgs& a) {
  const Channels ch = channels(in, a);
  const Tensor& x = in[0];
  Tensor out = make_tensor(x.shape(), x.dtype(), "batch_norm");
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = ptr<T>(x);
    T* y = ptr<T>(out);
    for (int64_t c = 0; c < ch.c; ++c) {
      double mean, invstd;
      norm_stats<T>(in, ch, a, c, mean, invstd);
      const T scale = static_cast<T>(invstd * static_cast<double>(ptr<T>(in[1])[c]));
      const T shift = static_cast<T>(static_cast<double>(ptr<T>(in[2])[c]) - mean * static_cast<double>(scale));
      ch.each(c, [&](int64_t k) { y[k] = xp[k] * scale + shift; });
    }
  });
  return out;
}

// With xhat = (x - mean) invstd and y = w xhat + b: db = sum g, dw = sum g xhat. In training mode
// the mean and the variance depend on x too, which gives
// dx = w invstd (g - sum(g) / M - xhat sum(g xhat) / M); in eval mode dx = w invstd g, and the
// running statistics get d mean = -w invstd sum g and d var = -w invstd^3 sum(g (x - mean)) / 2.
// As PyTorch splits it for synchronised batch norm (batch_norm_backward_reduce and _elemt), the
// backward is two ops, each a fused kernel:
// batch_norm_reduce_backward gives per channel [mean, invstd, sum g, sum g (x - mean)] (the
// statistics the forward used, and the upstream's two sums), from which the parameters' gradients
// are [C]-sized library ops; batch_norm_elemt_backward gives dx from them in one pass. Together
// the passes over x are today's four (two for the statistics, one for the sums, one for dx).

// x [N, C, ...] and the upstream g of its shape, and per-channel inputs [C] from `first` on.
Channels backward_channels(const char* op, Inputs in, const NormArgs& a, size_t first, const char* const* names) {
  const Tensor &g = in[0], &x = in[1];
  if (x.dim() < 2) throw Error(std::string(op) + ": x must be [N, C] or [N, C, ...], got " + x.shape().str());
  same_dtype(op, x, g);
  if (g.shape() != x.shape())
    throw Error(std::string(op) + ": grad has shape " + g.shape().str() + ", expected x's " + x.shape().str());
  Channels ch{x.shape()[0], x.shape()[1], 1};
  for (size_t d = 2; d < x.shape().size(); ++d) ch.s *= x.shape()[d];
  for (size_t i = first; i < in.size(); ++i) {
    same_dtype(op, x, in[i]);
    const bool rows = in[i].dim() == 2 && in[i].shape()[0] == 4 && in[i].shape()[1] == ch.c;
    if (!(std::string(names[i]) == "sums" ? rows : in[i].dim() == 1 && in[i].shape()[0] == ch.c))
      throw Error(std::string(op) + ": " + names[i] + " has shape " + in[i].shape().str() + ", expected " +
                  (std::string(names[i]) == "sums" ? "[4, " : "[") + std::to_string(ch.c) + "] for x " +
                  x.shape().str());
  }
  if (a.training && ch.m() < 2)
    throw Error(std::string(op) + ": training mode needs more than one value per channel, got x " + x.shape().str());
  return ch;
}

// batch_norm_reduce_backward(g, x[, running_mean, running_var]) -> [4, C]: per channel the mean
// and invstd that normalised x (the batch's in training mode, the running ones in eval mode),
// sum g and sum g (x - mean).
Tensor reduce_kernel(Inputs in, NormArgs& a) {
  static const char* const names[] = {"grad", "x", "running_mean", "running_var"};
  const char* op = "batch_norm_reduce_backward";
  if (in.size() != (a.training ? 2u : 4u))
    throw Error(std::string(op) + ": takes grad and x" + (a.training ? "" : ", running_mean and running_var") +
                " in " + (a.training ? "training" : "eval") + " mode, got " + std::to_string(in.size()) + " inputs");
  const Channels ch = backward_channels(op, in, a, 2, names);
  const Tensor& x = in[1];
  Tensor out = make_tensor({4, ch.c}, x.dtype(), op);
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = ptr<T>(x);
    const T* g = ptr<T>(in[0]);
    T* q = ptr<T>(out);
    for (int64_t k = 0; k < ch.c; ++k) {
      double mean, var;
      if (a.training) {
        batch_stats(xp, ch, k, mean, var);
      } else {
        mean = static_cast<double>(ptr<T>(in[2])[k]);
        var = static_cast<double>(ptr<T>(in[3])[k]);
      }
      double sg = 0, sgx = 0;
      ch.each(k, [&](int64_t e) {
        sg += static_cast<double>(g[e]);
        sgx += static_cast<double>(g[e]) * (static_cast<double>(xp[e]) - mean);
      });
      q[k] = static_cast<T>(mean);
      q[ch.c + k] = static_cast<T>(1.0 / std::sqrt(var + a.eps));
      q[2 * ch.c + k] = static_cast<T>(sg);
      q[3 * ch.c + k] = static_cast<T>(sgx);
    }
  });
  return out;
}

// batch_norm_elemt_backward(g, x, weight, sums) -> dx, sums as batch_norm_reduce_backward gives.
Tensor elemt_kernel(Inputs in, NormArgs& a) {
  static const char* const names[] = {"grad", "x", "weight", "sums"};
  const char* op = "batch_norm_elemt_backward";
  if (in.size() != 4) throw Error(std::string(op) + ": takes grad, x, weight and sums, got " + std::to_string(in.size()) + " inputs");
  const Channels ch = backward_channels(op, in, a, 2, names);
  const Tensor& x = in[1];
  Tensor dx = make_tensor(x.shape(), x.dtype(), op);
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = ptr<T>(x);
    const T* g = ptr<T>(in[0]);
    const T* w = ptr<T>(in[2]);
    const T* st = ptr<T>(in[3]);
    T* q = ptr<T>(dx);
    const double inv_m = 1.0 / static_cast<double>(ch.m());
    for (int64_t k = 0; k < ch.c; ++k) {
      const double mean = static_cast<double>(st[k]), invstd = static_cast<double>(st[ch.c + k]);
      const double scale = static_cast<double>(w[k]) * invstd;
      if (a.training) {
        // xhat sum(g xhat) / M = (x - mean) invstd^2 sum(g (x - mean)) / M
        const double mg = static_cast<double>(st[2 * ch.c + k]) * inv_m;
        const double mx = static_cast<double>(st[3 * ch.c + k]) * invstd * invstd * inv_m;
        ch.each(k, [&](int64_t e) {
          q[e] = static_cast<T>(scale * (static_cast<double>(g[e]) - mg - (static_cast<double>(xp[e]) - mean) * mx));
        });
      } else {
        ch.each(k, [&](int64_t e) { q[e] = static_cast<T>(scale * static_cast<double>(g[e])); });
      }
    }
  });
  return dx;
}

// Library-op helpers for the backwards below: the axes a channel spans, and [C] <-> [1, C, 1, ...].
struct ChannelOps {
  std::vector<int64_t> axes{0}, per_channel;
  int64_t c;
  double m;
  explicit ChannelOps(const Tensor& x) : per_channel(x.dim(), 1), c(x.shape()[1]) {
    for (int64_t d = 2; d < static_cast<int64_t>(x.dim()); ++d) axes.push_back(d);
    per_channel[1] = c;
    m = static_cast<double>(x.numel()) / static_cast<double>(c);
  }
  Tensor along(const Tensor& t) const { return reshape(t, per_channel); }
  Tensor flat(const Tensor& t) const { return reshape(t, {c}); }
  Tensor sum_c(const Tensor& t) const { return sum(t, axes, true); }  // [1, C, 1, ...]
  Tensor row(const Tensor& sums, int64_t r) const { return along(select(sums, 0, r)); }
};

// batch_norm_reduce_backward's backward. Cotangents a of [mean, invstd, sg, sgx] (rows of the
// upstream): with xc = x - mean,
//   d/dg = a_sg + a_sgx xc;
//   training: d/dx = a_mean / M - a_invstd invstd^3 xc / M + a_sgx (g - sg / M)
//     (d invstd / dx = -invstd^3 xc / M; sgx's dependence through the mean vanishes as sum xc = 0,
//     and d sgx / dx = g - sg / M when the mean moves with x);
//   eval: d/dx = a_sgx g, d/d running_mean = a_mean - a_sgx sg, d/d running_var = -a_invstd invstd^3 / 2.
void reduce_second(BackwardContext& c, const NormArgs& a) {
  const Tensor &g = c.input(0), &x = c.input(1), &up = c.grad();
  const ChannelOps k(x);
  Tensor mu, invstd;
  if (a.training) {
    mu = mean(x, k.axes, true);
    invstd = rsqrt(k.sum_c(square(x - mu)) / k.m + a.eps);
  } else {
    mu = k.along(c.input(2));
    invstd = rsqrt(k.along(c.input(3)) + a.eps);
  }
  const Tensor xc = x - mu;
  const Tensor a_mean = k.row(up, 0), a_invstd = k.row(up, 1), a_sg = k.row(up, 2), a_sgx = k.row(up, 3);
  if (c.needs_grad(0)) c.accumulate(0, a_sg + a_sgx * xc);
  if (a.training) {
    if (c.needs_grad(1))
      c.accumulate(1, a_mean / k.m - a_invstd * (invstd * square(invstd)) * xc / k.m + a_sgx * (g - k.sum_c(g) / k.m));
    return;
  }
  if (c.needs_grad(1)) c.accumulate(1, a_sgx * g);
  if (c.needs_grad(2)) c.accumulate(2, k.flat(a_mean - a_sgx * k.sum_c(g)));
  if (c.needs_grad(3)) c.accumulate(3, k.flat(-0.5 * a_invstd * invstd * square(invstd)));
}

// batch_norm_elemt_backward's backward. With s = invstd, m = mean, sg, sgx the rows of sums,
// xc = x - m, and up the upstream:
//   training: dx = w s g - w s sg / M - w s^3 sgx xc / M, so
//     d/dg = w s up, d/dx = -w s^3 sgx up / M, d/dw = sum(up dx) / w,
//     d/dm = w s^3 sgx sum(up) / M, d/ds = sum(up (w g - w sg / M - 3 w s^2 sgx xc / M)),
//     d/dsg = -w s sum(up) / M, d/dsgx = -w s^3 sum(up xc) / M;
//   eval: dx = w s g, so d/dg = w s up, d/dw = s sum(up g), d/ds = w sum(up g), and no other.
void elemt_second(BackwardContext& c, const NormArgs& a) {
  const Tensor &g = c.input(0), &x = c.input(1), &sums = c.input(3), &up = c.grad();
  const ChannelOps k(x);
  const Tensor w = k.along(c.input(2)), m = k.row(sums, 0), s = k.row(sums, 1);
  if (c.needs_grad(0)) c.accumulate(0, w * s * up);
  if (!a.training) {
    const Tensor sug = k.sum_c(up * g);
    if (c.needs_grad(2)) c.accumulate(2, k.flat(s * sug));
    if (c.needs_grad(3)) {
      const Tensor zero = zeros(Shape{k.c}, x.dtype());
      c.accumulate(3, stack({zero, k.flat(w * sug), zero, zero}, 0));
    }
    return;
  }
  const Tensor sg = k.row(sums, 2), sgx = k.row(sums, 3), xc = x - m, s3 = s * square(s);
  if (c.needs_grad(1)) c.accumulate(1, -(w * s3 * sgx / k.m) * up);
  const Tensor su = k.sum_c(up);
  if (c.needs_grad(2)) c.accumulate(2, k.flat(k.sum_c(up * (s * g - s * sg / k.m - s3 * sgx * xc / k.m))));
  if (c.needs_grad(3)) {
    const Tensor dm = w * s3 * sgx * su / k.m;
    const Tensor ds = k.sum_c(up * (w * g - w * sg / k.m - 3.0 * w * square(s) * sgx * xc / k.m));
    const Tensor dsg = -(w * s * su) / k.m;
    const Tensor dsgx = -(w * s3 * k.sum_c(up * xc)) / k.m;
    c.accumulate(3, stack({k.flat(dm), k.flat(ds), k.flat(dsg), k.flat(dsgx)}, 0));
  }
}

SampleInputs norm_inputs(bool training) {
  return [training](Dtype d, Generator& gen) {
    std::vector<OpSample> out;
    for (const Shape& s : {Shape{4, 3}, Shape{2, 3, 2, 2}}) {
      std::vector<Tensor> in{samples::normal(s, d, gen), samples::uniform({3}, 0.5, 1.5, d, gen),
                             samples::normal({3}, d, gen)};
      if (!training) {
        in.push_back(samples::normal({3}, d, gen));
        in.push_back(samples::uniform({3}, 0.5, 2, d, gen));
      }
      out.push_back({in, "x " + s.str()});
    }
    return out;
  };
}

// The backward ops' samples, from batch_norm's: g normal of x's shape, and for elemt the sums
// batch_norm_reduce_backward gives (so that invstd is positive, as it always is).
SampleInputs reduce_inputs(bool training);
SampleInputs elemt_inputs(bool training);

}  // namespace

static const Op<NormArgs> kBatchNormReduceBackward(
    {.name = "batch_norm_reduce_backward",
     .forward = reduce_kernel,
     .backward = reduce_second,
     .samples = {{.label = "training", .args = {true, 1e-5}, .inputs = reduce_inputs(true)},
                 {.label = "eval", .args = {false, 1e-5}, .inputs = reduce_inputs(false)}}});
static const Op<NormArgs> kBatchNormElemtBackward(
    {.name = "batch_norm_elemt_backward",
     .forward = elemt_kernel,
     .backward = elemt_second,
     .samples = {{.label = "training", .args = {true, 1e-5}, .inputs = elemt_inputs(true)},
                 // dx = w invstd g in eval mode: no x in it.
                 {.label = "eval", .args = {false, 1e-5}, .inputs = elemt_inputs(false), .zero_gradient_inputs = {1}}}});

namespace {
SampleInputs reduce_inputs(bool training) {
  return [training](Dtype d, Generator& gen) {
    std::vector<OpSample> out = norm_inputs(training)(d, gen);
    for (OpSample& o : out) {
      std::vector<Tensor> in{samples::normal(o.inputs[0].shape(), d, gen), o.inputs[0]};
      if (!training) in.insert(in.end(), {o.inputs[3], o.inputs[4]});
      o.inputs = in;
    }
    return out;
  };
}
SampleInputs elemt_inputs(bool training) {
  return [training](Dtype d, Generator& gen) {
    std::vector<OpSample> out = reduce_inputs(training)(d, gen);
    for (OpSample& o : out) {
      const Tensor sums = kBatchNormReduceBackward(Inputs(o.inputs), {training, 1e-5});
      const int64_t c = o.inputs[1].shape()[1];
      o.inputs = {o.inputs[0], o.inputs[1], samples::uniform({c}, 0.5, 1.5, d, gen), sums};
    }
    return out;
  };
}

// The gradients of x (elemt) and of the per-channel inputs, from the sums: dw = sgx invstd,
// db = sg, d running_mean = -w invstd sg, d running_var = -w invstd^3 sgx / 2.
void norm_backward(BackwardContext& c, const NormArgs& a) {
  const Tensor &x = c.input(0), &g = c.grad(), &w = c.input(1);
  const Tensor sums = a.training ? kBatchNormReduceBackward({g, x}, a)
                                 : kBatchNormReduceBackward({g, x, c.input(3), c.input(4)}, a);
  if (c.needs_grad(0)) c.accumulate(0, kBatchNormElemtBackward({g, x, w, sums}, a));
  const bool stats = c.inputs() == 5 && (c.needs_grad(3) || c.needs_grad(4));
  if (!c.needs_grad(1) && !c.needs_grad(2) && !stats) return;
  const Tensor invstd = select(sums, 0, 1), sg = select(sums, 0, 2), sgx = select(sums, 0, 3);
  if (c.needs_grad(1)) c.accumulate(1, sgx * invstd);
  if (c.needs_grad(2)) c.accumulate(2, sg);
  if (c.inputs() == 5 && c.needs_grad(3)) c.accumulate(3, -(w * invstd * sg));
  if (c.inputs() == 5 && c.needs_grad(4)) c.accumulate(4, -0.5 * w * invstd * square(invstd) * sgx);
}
}  // namespace

static const Op<NormArgs> kBatchNorm({.name = "batch_norm",
                                      .forward = norm_forward,
                                      .backward = norm_backward,
                                      .samples = {{.label = "training", .args = {true, 1e-5}, .inputs = norm_inputs(true)},
                                                  {.label = "eval", .args = {false, 1e-5}, .inputs = norm_inputs(false)}}});

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, BatchNormOptions options) {
  if (!x.defined()) throw Error("batch_norm: x is undefined");
  if (x.dim() < 2) throw Error("batch_norm: x must be [N, C] or [N, C, ...], got " + x.shape().str());
  const int64_t c = x.shape()[1];
  const Tensor w = weight.defined() ? weight : ones({c}, x.dtype());
  const Tensor b = bias.defined() ? bias : zeros({c}, x.dtype());
  if (running_mean.defined() != running_var.defined())
    throw Error("batch_norm: pass both running_mean and running_var, or neither");
  if (!options.training) {
    if (!running_mean.defined()) throw Error("batch_norm: eval mode needs running_mean and running_var");
    return kBatchNorm({x, w, b, running_mean, running_var}, {false, options.eps});
  }
  Tensor y = kBatchNorm({x, w, b}, {true, options.eps});
  if (running_mean.defined()) {
    for (const Tensor* t : {&running_mean, &running_var}) {
      same_dtype("batch_norm", x, *t);
      if (t->shape() != Shape{c})
        throw Error("batch_norm: running statistics have shape " + t->shape().str() + ", expected [" +
                    std::to_string(c) + "] for x " + x.shape().str());
    }
    // running = (1 - momentum) running + momentum batch, with the variance unbiased (PyTorch's).
    NoGradGuard no_grad;
    const Channels ch = channels({x}, {true, options.eps});  // checked by the forward above
    Tensor mean = make_tensor({c}, x.dtype(), "batch_norm"), var = make_tensor({c}, x.dtype(), "batch_norm");
    dispatch(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const double m = options.momentum, unbias = static_cast<double>(ch.m()) / static_cast<double>(ch.m() - 1);
      for (int64_t k = 0; k < c; ++k) {
        double bm, bv;
        batch_stats(ptr<T>(x), ch, k, bm, bv);
        ptr<T>(mean)[k] = static_cast<T>((1 - m) * static_cast<double>(ptr<T>(running_mean)[k]) + m * bm);
        ptr<T>(var)[k] = static_cast<T>((1 - m) * static_cast<double>(ptr<T>(running_var)[k]) + m * bv * unbias);
      }
    });
    Tensor(running_mean).copy_(mean);
    Tensor(running_var).copy_(var);
  }
  return y;
}

}  // namespace tapegrad
