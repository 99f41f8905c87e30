// Adam and AdamW: one update loop, written once for float and double.
#include "tapegrad/optim/adam.h"

#include <algorithm>
#include <cmath>

#include "tapegrad/autograd/tensor_impl.h"

namespace tapegrad::optim {

namespace {
std::vector<std::string> adam_buffers(const AdamOptions& o) {
  if (o.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}
}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam("Adam", std::move(params), options, false) {}

Adam::Adam(const char* name, std::vector<Tensor> params, AdamOptions options, bool decoupled)
    : Optimizer(name, std::move(params), options.lr, adam_buffers(options)), options_(options), decoupled_(decoupled) {
  check_option(options.eps >= 0.0, "eps", options.eps);
  check_option(options.betas[0] >= 0.0 && options.betas[0] < 1.0, "beta1", options.betas[0]);
  check_option(options.betas[1] >= 0.0 && options.betas[1] < 1.0, "beta2", options.betas[1]);
  check_option(options.weight_decay >= 0.0, "weight_decay", options.weight_decay);
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Adam("AdamW", std::move(params),
           AdamOptions{.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad},
           true) {}

void Adam::update(Slot& s) {
  const AdamOptions& o = options_;
  const double t = static_cast<double>(s.step);
  // Bias corrections in double, as PyTorch computes them from Python floats.
  const double bias1 = 1.0 - std::pow(o.betas[0], t);
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(o.betas[1], t));
  const double step_size = lr() / bias1;
  detail::dispatch(s.param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = s.param.data<T>();
    const T* grad = s.grad.data<T>();
    T* m = s.buffers[0].data<T>();
    T* v = s.buffers[1].data<T>();
    T* vmax = o.amsgrad ? s.buffers[2].data<T>() : nullptr;
    const T b1 = static_cast<T>(o.betas[0]), b2 = static_cast<T>(o.betas[1]);
    const T r1 = static_cast<T>(1.0 - o.betas[0]), r2 = static_cast<T>(1.0 - o.betas[1]);
    const T wd = static_cast<T>(o.weight_decay), eps = static_cast<T>(o.eps);
    const T shrink = static_cast<T>(1.0 - lr() * o.weight_decay);
    const T bc2 = static_cast<T>(bias2_sqrt), stride = static_cast<T>(step_size);
    const bool l2 = !decoupled_ && o.weight_decay != 0.0, decay = decoupled_ && o.weight_decay != 0.0;
    for (int64_t k = 0, n = s.param.numel(); k < n; ++k) {
      if (decay) p[k] *= shrink;
      const T g = l2 ? grad[k] + wd * p[k] : grad[k];
      m[k] = b1 * m[k] + r1 * g;
      v[k] = b2 * v[k] + r2 * g * g;
      T second = v[k];
      if (vmax) second = vmax[k] = std::max(vmax[k], v[k]);
      p[k] -= stride * (m[k] / (std::sqrt(second) / bc2 + eps));
    }
  });
}

}  // namespace tapegrad::optim
