#include "tapegrad/nn/init.h"

#include <cmath>
#include <vector>

#include "tapegrad/autograd/tape.h"

namespace tapegrad::nn {

Generator& default_generator() {
  thread_local Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().seed(seed); }

namespace init {

namespace {

Tensor& need(Tensor& t, const char* who) {
  if (!t.defined()) throw Error(std::string("init::") + who + ": the tensor is undefined");
  return t;
}

// Draws numel() values in float64 and copies them in, so f32 and f64 see identical draws.
template <class Draw>
Tensor fill_with(Tensor t, const char* who, Draw draw) {
  need(t, who);
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (double& x : v) x = draw();
  NoGradGuard no_grad;
  t.copy_(from_vector(v, t.shape(), Dtype::f64));
  return t;
}

}  // namespace

Fans fans(const Tensor& t) {
  if (!t.defined()) throw Error("init::fans: the tensor is undefined");
  if (t.dim() < 2)
    throw Error("init::fans: fan-in and fan-out need a weight of rank 2 or more ({in, out}), got shape " +
                t.shape().str());
  int64_t receptive = 1;
  for (size_t d = 2; d < t.dim(); ++d) receptive *= t.shape()[d];
  return {t.shape()[0] * receptive, t.shape()[1] * receptive};
}

Tensor normal(Tensor t, double mean, double std, Generator& gen) {
  if (!(std >= 0)) throw Error("init::normal: std must be >= 0, got " + std::to_string(std));
  return fill_with(std::move(t), "normal", [&] { return mean + std * gen.normal(); });
}

Tensor uniform(Tensor t, double lo, double hi, Generator& gen) {
  if (!(lo <= hi))
    throw Error("init::uniform: need lo <= hi, got lo=" + std::to_string(lo) + " hi=" + std::to_string(hi));
  return fill_with(std::move(t), "uniform", [&] { return gen.uniform(lo, hi); });
}

Tensor xavier_uniform(Tensor t, double gain, Generator& gen) {
  const Fans f = fans(t);
  const double b = gain * std::sqrt(6.0 / static_cast<double>(f.in + f.out));
  return uniform(std::move(t), -b, b, gen);
}
Tensor xavier_uniform(Tensor t, Generator& gen) { return xavier_uniform(std::move(t), 1.0, gen); }

Tensor xavier_normal(Tensor t, double gain, Generator& gen) {
  const Fans f = fans(t);
  return normal(std::move(t), 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.in + f.out)), gen);
}
Tensor xavier_normal(Tensor t, Generator& gen) { return xavier_normal(std::move(t), 1.0, gen); }

Tensor kaiming_uniform(Tensor t, double gain, Generator& gen) {
  const double b = gain * std::sqrt(3.0 / static_cast<double>(fans(t).in));
  return uniform(std::move(t), -b, b, gen);
}
Tensor kaiming_uniform(Tensor t, Generator& gen) { return kaiming_uniform(std::move(t), std::sqrt(2.0), gen); }

Tensor kaiming_normal(Tensor t, double gain, Generator& gen) {
  const double s = gain / std::sqrt(static_cast<double>(fans(t).in));
  return normal(std::move(t), 0.0, s, gen);
}
Tensor kaiming_normal(Tensor t, Generator& gen) { return kaiming_normal(std::move(t), std::sqrt(2.0), gen); }

Tensor zeros(Tensor t) { return constant(std::move(t), 0.0); }

Tensor constant(Tensor t, double value) {
  need(t, "constant");
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}

}  // namespace init
}  // namespace tapegrad::nn
