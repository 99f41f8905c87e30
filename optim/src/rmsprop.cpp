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

namespace {
// Plain arguments, __restrict: see sgd.cpp's loops.
template <class T>
struct RMSpropStep {
  T rate, wd, eps, alpha, rest, mom;
};
template <class T>
void rmsprop_loop(T* __restrict p, const T* __restrict grad, T* __restrict sq, T* __restrict buf, T* __restrict gavg,
                  int64_t n, const RMSpropStep<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    const T g = c.wd != 0 ? grad[k] + c.wd * p[k] : grad[k];
    sq[k] = c.alpha * sq[k] + c.rest * g * g;
    T avg;
    if (gavg) {
      gavg[k] = c.alpha * gavg[k] + c.rest * g;
      avg = std::sqrt(sq[k] - gavg[k] * gavg[k]) + c.eps;
    } else {
      avg = std::sqrt(sq[k]) + c.eps;
    }
    if (buf) {
      buf[k] = c.mom * buf[k] + g / avg;
      p[k] -= c.rate * buf[k];
    } else {
      p[k] -= c.rate * (g / avg);
    }
  }
}
}  // namespace

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
    detail::for_ranges(s.param.numel(), [=](int64_t lo, int64_t hi) {
      rmsprop_loop(p + lo, grad + lo, sq + lo, buf ? buf + lo : nullptr, gavg ? gavg + lo : nullptr, hi - lo,
                   {rate, wd, eps, alpha, rest, mom});
    });
  });
}

}  // namespace tapegrad::optim
