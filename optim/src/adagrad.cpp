// Adagrad: the update loop, written once for float and double.
#include "tapegrad/optim/adagrad.h"

#include <cmath>

#include "ops/parallel.h"
#include "tensor_impl.h"

namespace tapegrad::optim {

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Optimizer("Adagrad", std::move(params), options.lr, {"sum"}, options.initial_accumulator_value),
      options_(options) {
  check_option(options.lr_decay >= 0.0, "lr_decay", options.lr_decay);
  check_option(options.weight_decay >= 0.0, "weight_decay", options.weight_decay);
  check_option(options.initial_accumulator_value >= 0.0, "initial_accumulator_value",
               options.initial_accumulator_value);
  check_option(options.eps >= 0.0, "eps", options.eps);
}

namespace {
// Plain arguments, __restrict: see sgd.cpp's loops.
template <class T>
void adagrad_loop(T* __restrict p, const T* __restrict grad, T* __restrict sum, int64_t n, T step, T wd, T eps) {
  for (int64_t k = 0; k < n; ++k) {
    const T g = wd != 0 ? grad[k] + wd * p[k] : grad[k];
    sum[k] += g * g;
    p[k] -= step * (g / (std::sqrt(sum[k]) + eps));
  }
}
}  // namespace

void Adagrad::update(Slot& s) {
  const AdagradOptions& o = options_;
  const double clr = lr() / (1.0 + static_cast<double>(s.step - 1) * o.lr_decay);
  detail::dispatch(s.param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = detail::ptr<T>(s.param);
    const T* grad = detail::ptr<T>(s.grad);
    T* sum = detail::ptr<T>(s.buffers[0]);
    const T step = static_cast<T>(clr), wd = static_cast<T>(o.weight_decay), eps = static_cast<T>(o.eps);
    detail::for_ranges(s.param.numel(), [=](int64_t lo, int64_t hi) {
      adagrad_loop(p + lo, grad + lo, sum + lo, hi - lo, step, wd, eps);
    });
  });
}

}  // namespace tapegrad::optim
