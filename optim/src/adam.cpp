// Adam and AdamW: one update loop, written once for float and double.
#include "tapegrad/optim/adam.h"

#include <cmath>

#include "ops/parallel.h"
#include "tensor_impl.h"

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
  check_option(options.betas[0] >= 0.0 && options.betas[0] < 1.0, "beta1", options.betas[0], "in [0, 1)");
  check_option(options.betas[1] >= 0.0 && options.betas[1] < 1.0, "beta2", options.betas[1], "in [0, 1)");
  check_option(options.weight_decay >= 0.0, "weight_decay", options.weight_decay);
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Adam("AdamW", std::move(params),
           AdamOptions{.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad},
           true) {}

namespace {
// Scalars of one Adam step, converted to the parameter's type.
template <class T>
struct AdamStep {
  T b1, b2, r1, r2, wd, eps, shrink, bc2, stride;
};

// The options are template flags so that each variant is a branch-free loop the compiler can
// vectorize; __restrict tells it the five arrays do not overlap (each has its own storage).
template <class T, bool kL2, bool kDecoupled, bool kAmsgrad>
void adam_loop(T* __restrict p, const T* __restrict grad, T* __restrict m, T* __restrict v, T* __restrict vmax,
               int64_t n, const AdamStep<T> c) {
  for (int64_t k = 0; k < n; ++k) {
    T x = p[k];
    if constexpr (kDecoupled) x *= c.shrink;
    T g = grad[k];
    if constexpr (kL2) g += c.wd * x;
    const T mk = c.b1 * m[k] + c.r1 * g;
    const T vk = c.b2 * v[k] + c.r2 * g * g;
    m[k] = mk;
    v[k] = vk;
    T second = vk;
    if constexpr (kAmsgrad) {
      second = vmax[k] > vk ? vmax[k] : vk;
      vmax[k] = second;
    }
    p[k] = x - c.stride * (mk / (std::sqrt(second) / c.bc2 + c.eps));
  }
}
}  // namespace

void Adam::update(Slot& s) {
  const AdamOptions& o = options_;
  const double t = static_cast<double>(s.step);
  // Bias corrections in double, as PyTorch computes them from Python floats.
  const double bias1 = 1.0 - std::pow(o.betas[0], t);
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(o.betas[1], t));
  const double step_size = lr() / bias1;
  const bool l2 = !decoupled_ && o.weight_decay != 0.0, decay = decoupled_ && o.weight_decay != 0.0;
  detail::dispatch(s.param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const AdamStep<T> c{static_cast<T>(o.betas[0]),        static_cast<T>(o.betas[1]),
                        static_cast<T>(1.0 - o.betas[0]),  static_cast<T>(1.0 - o.betas[1]),
                        static_cast<T>(o.weight_decay),    static_cast<T>(o.eps),
                        static_cast<T>(1.0 - lr() * o.weight_decay), static_cast<T>(bias2_sqrt),
                        static_cast<T>(step_size)};
    T* p = detail::ptr<T>(s.param);
    const T* g = detail::ptr<T>(s.grad);
    T* m = detail::ptr<T>(s.buffers[0]);
    T* v = detail::ptr<T>(s.buffers[1]);
    T* vmax = o.amsgrad ? detail::ptr<T>(s.buffers[2]) : nullptr;
    auto loop = o.amsgrad ? (l2 ? adam_loop<T, true, false, true>
                             : decay ? adam_loop<T, false, true, true> : adam_loop<T, false, false, true>)
                          : (l2 ? adam_loop<T, true, false, false>
                             : decay ? adam_loop<T, false, true, false> : adam_loop<T, false, false, false>);
    detail::for_ranges(s.param.numel(), [&](int64_t lo, int64_t hi) {
      loop(p + lo, g + lo, m + lo, v + lo, vmax ? vmax + lo : nullptr, hi - lo, c);
    });
  });
}

}  // namespace tapegrad::optim
