// SGD: the update loop, written once for float and double.
#include "tapegrad/optim/sgd.h"

#include "ops/parallel.h"
#include "show.h"
#include "tensor_impl.h"

namespace tapegrad::optim {

using detail::show_double;

namespace {
std::vector<std::string> sgd_buffers(const SGDOptions& o) {
  if (o.momentum != 0.0) return {"momentum_buffer"};
  return {};
}
}  // namespace

namespace {
// The loops take plain arguments, __restrict: written inside the lambdas that share them out over
// the threads, the stores through p could alias the captured rate, which then was reloaded each
// element and the loop was not vectorized (callgrind, 784-50-10 step: +5%).
template <class T>
void sgd_loop(T* __restrict p, const T* __restrict grad, int64_t n, T rate, T wd) {
  for (int64_t k = 0; k < n; ++k) p[k] -= rate * (wd != 0 ? grad[k] + wd * p[k] : grad[k]);
}
template <class T>
void momentum_loop(T* __restrict p, const T* __restrict grad, T* __restrict buf, int64_t n, T rate, T wd, T mom,
                   T keep, bool first, bool nesterov) {
  for (int64_t k = 0; k < n; ++k) {
    const T g = wd != 0 ? grad[k] + wd * p[k] : grad[k];  // as PyTorch: no 0*p term (inf*0)
    buf[k] = first ? g : mom * buf[k] + keep * g;
    p[k] -= rate * (nesterov ? g + mom * buf[k] : buf[k]);
  }
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : Optimizer("SGD", std::move(params), options.lr, sgd_buffers(options)), options_(options) {
  check_option(options.momentum >= 0.0, "momentum", options.momentum);
  check_option(options.weight_decay >= 0.0, "weight_decay", options.weight_decay);
  check_option(true, "dampening", options.dampening, "");
  if (options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0))
    throw Error("SGD: Nesterov momentum requires momentum > 0 and dampening 0, got momentum " +
                show_double(options.momentum) + " and dampening " + show_double(options.dampening));
}

void SGD::update(Slot& s) {
  const SGDOptions& o = options_;
  detail::dispatch(s.param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = detail::ptr<T>(s.param);
    const T* grad = detail::ptr<T>(s.grad);
    const int64_t n = s.param.numel();
    const T rate = static_cast<T>(lr()), wd = static_cast<T>(o.weight_decay);
    if (o.momentum == 0.0) {
      if (n < detail::kParallelElements) [[likely]] return sgd_loop(p, grad, n, rate, wd);
      detail::split_over_threads(n, [=](int64_t lo, int64_t hi) { sgd_loop(p + lo, grad + lo, hi - lo, rate, wd); });
      return;
    }
    T* buf = detail::ptr<T>(s.buffers[0]);
    const T mom = static_cast<T>(o.momentum), keep = static_cast<T>(1.0 - o.dampening);
    const bool first = s.step == 1, nesterov = o.nesterov;
    detail::for_ranges(n, [=](int64_t lo, int64_t hi) {
      momentum_loop(p + lo, grad + lo, buf + lo, hi - lo, rate, wd, mom, keep, first, nesterov);
    });
  });
}

}  // namespace tapegrad::optim
