// RMSprop: the update loop, written once for float and double.
#include "tapegrad/optim/rmsprop.h"

#include <cmath>

#include "ops/parallel.h"
#include "tensor_impl.h"

namespace tapegrad::optim {

namespace {
std::vector<std::string> rmsprop_buffers(const RMSpropOptions& o) {
  std::vector<std::string> names{"square_avg"};
  if (o.momentum > 0.0) names.push_back("momentum_buffer");
  if (o.centered) names.push_back("grad_avg");
  return names;
}
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : Optimizer("RMSprop", std::move(params), options.lr, rmsprop_buffers(options)), options_(options) {
  check_option(options.alpha >= 0.0, "alpha", options.alpha);
  check_option(options.eps >= 0.0, "eps", options.eps);
  check_option(options.weight_decay >= 0.0, "weight_decay", options.weight_decay);
  check_option(options.momentum >= 0.0, "momentum", options.momentum);
}

void RMSprop::update(Slot& s) {
  const RMSpropOptions& o = options_;
  const bool use_momentum = o.momentum > 0.0;
  detail::dispatch(s.param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = detail::ptr<T>(s.param);
    const T* grad = detail::ptr<T>(s.grad);
    T* sq = detail::ptr<T>(s.buffers[0]);
    T* buf = use_momentum ? detail::ptr<T>(s.buffers[1]) : nullptr;
    T* gavg = o.centered ? detail::ptr<T>(s.buffers[use_momentum ? 2 : 1]) : nullptr;
    const T rate = static_cast<T>(lr()), wd = static_cast<T>(o.weight_decay), eps = static_cast<T>(o.eps);
    const T alpha = static_cast<T>(o.alpha), rest = static_cast<T>(1.0 - o.alpha), mom = static_cast<T>(o.momentum);
    detail::for_ranges(s.param.numel(), [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        const T g = wd != 0 ? grad[k] + wd * p[k] : grad[k];
        sq[k] = alpha * sq[k] + rest * g * g;
        T avg;
        if (gavg) {
          gavg[k] = alpha * gavg[k] + rest * g;
          avg = std::sqrt(sq[k] - gavg[k] * gavg[k]) + eps;
        } else {
          avg = std::sqrt(sq[k]) + eps;
        }
        if (buf) {
          buf[k] = mom * buf[k] + g / avg;
          p[k] -= rate * buf[k];
        } else {
          p[k] -= rate * (g / avg);
        }
      }
    });
  });
}

}  // namespace tapegrad::optim
