// batch_norm as one node per call. Channel statistics are summed in double whatever
// the dtype (a float32 sum over a batch of 64 feature maps of 28x28 is 50,000 terms). The node
// keeps only its inputs: the backward recomputes the batch mean and variance from x, one pass,
// instead of keeping two more tensors alive per layer.
#include <cmath>

#include "kernels.h"

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
// The same formulas written with library ops, for a pass that records itself (create_graph): the
// gradients are then functions of x, the weight and the statistics, differentiable again.
void norm_backward_recorded(BackwardContext& c, const NormArgs& a) {
  const Tensor& x = c.input(0);
  const Tensor& g = c.grad();
  const int64_t channels = x.shape()[1];
  std::vector<int64_t> axes{0}, per_channel(x.dim(), 1);  // the axes a channel spans; [1, C, 1, ...]
  for (int64_t d = 2; d < static_cast<int64_t>(x.dim()); ++d) axes.push_back(d);
  per_channel[1] = channels;
  auto along_channel = [&](const Tensor& t) { return reshape(t, per_channel); };
  auto flat = [&](const Tensor& t) { return reshape(t, {channels}); };
  const Tensor w = along_channel(c.input(1));
  Tensor mu, invstd;
  if (a.training) {
    mu = mean(x, axes, true);
    invstd = rsqrt(mean(square(x - mu), axes, true) + a.eps);
  } else {
    mu = along_channel(c.input(3));
    invstd = rsqrt(along_channel(c.input(4)) + a.eps);
  }
  const Tensor xc = x - mu;
  const Tensor sg = sum(g, axes, true), sgx = sum(g * xc, axes, true);
  if (c.needs_grad(0)) {
    const Tensor scale = w * invstd;
    if (a.training) {
      const double inv_m = static_cast<double>(channels) / static_cast<double>(x.numel());
      c.accumulate(0, scale * (g - sg * inv_m - xc * (sgx * square(invstd) * inv_m)));
    } else {
      c.accumulate(0, scale * g);
    }
  }
  if (c.needs_grad(1)) c.accumulate(1, flat(sgx * invstd));
  if (c.needs_grad(2)) c.accumulate(2, flat(sg));
  if (c.inputs() == 5 && c.needs_grad(3)) c.accumulate(3, flat(-(w * invstd * sg)));
  if (c.inputs() == 5 && c.needs_grad(4)) c.accumulate(4, flat(-0.5 * w * invstd * square(invstd) * sgx));
}

void norm_backward(BackwardContext& c, const NormArgs& a) {
  if (c.create_graph()) {
    norm_backward_recorded(c, a);
    return;
  }
  const size_t k_inputs = c.inputs();
  std::vector<Tensor> in;
  for (size_t i = 0; i < k_inputs; ++i) in.push_back(c.input(i));
  const Channels ch = channels(Inputs(in), a);
  const Tensor& x = in[0];
  std::vector<Tensor> grads(k_inputs);
  for (size_t i = 0; i < k_inputs; ++i)
    if (c.needs_grad(i)) grads[i] = make_tensor(in[i].shape(), x.dtype(), "batch_norm backward");
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = ptr<T>(x);
    const T* g = ptr<T>(c.grad());
    const double inv_m = 1.0 / static_cast<double>(ch.m());
    for (int64_t k = 0; k < ch.c; ++k) {
      double mean, invstd;
      norm_stats<T>(Inputs(in), ch, a, k, mean, invstd);
      double sg = 0, sgx = 0;
      ch.each(k, [&](int64_t e) {
        sg += static_cast<double>(g[e]);
        sgx += static_cast<double>(g[e]) * (static_cast<double>(xp[e]) - mean);
      });
      const double w = static_cast<double>(ptr<T>(in[1])[k]);
      if (grads[0].defined()) {
        T* dx = ptr<T>(grads[0]);
        const double scale = w * invstd;
        if (a.training) {
          // xhat sum(g xhat) / M = (x - mean) invstd^2 sgx / M
          const double mg = sg * inv_m, mx = sgx * invstd * invstd * inv_m;
          ch.each(k, [&](int64_t e) {
            dx[e] = static_cast<T>(scale * (static_cast<double>(g[e]) - mg - (static_cast<double>(xp[e]) - mean) * mx));
          });
        } else {
          ch.each(k, [&](int64_t e) { dx[e] = static_cast<T>(scale * static_cast<double>(g[e])); });
        }
      }
      if (grads[1].defined()) ptr<T>(grads[1])[k] = static_cast<T>(sgx * invstd);
      if (grads[2].defined()) ptr<T>(grads[2])[k] = static_cast<T>(sg);
      if (k_inputs == 5 && grads[3].defined()) ptr<T>(grads[3])[k] = static_cast<T>(-w * invstd * sg);
      if (k_inputs == 5 && grads[4].defined())
        ptr<T>(grads[4])[k] = static_cast<T>(-0.5 * w * invstd * invstd * invstd * sgx);
    }
  });
  for (size_t i = 0; i < k_inputs; ++i)
    if (grads[i].defined()) c.accumulate(i, std::move(grads[i]));
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
