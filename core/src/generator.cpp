// The random generator and the random tensors drawn from it.
#include "tapegrad/core/generator.h"

#include <cmath>

#include "tensor_hooks.h"

namespace tapegrad {

using detail::dispatch;

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = uniform(-1.0, 1.0);
    v = uniform(-1.0, 1.0);
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double m = std::sqrt(-2.0 * std::log(s) / s);
  spare_ = v * m;
  has_spare_ = true;
  return u * m;
}

uint64_t Generator::below(uint64_t n) {
  if (n == 0) throw Error("Generator::below: n must be positive");
  // Rejection sampling: unbiased for every n.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do r = engine_();
  while (r >= limit);
  return r % n;
}


Tensor randn(const Shape& shape, Generator& gen, Dtype dtype) {
  if (detail::tensor_hooks) [[unlikely]] detail::tensor_hooks->draw("randn");
  Tensor t = detail::make_tensor(shape, dtype, "randn");
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t k = 0, n = t.numel(); k < n; ++k) p[k] = static_cast<T>(gen.normal());
  });
  return t;
}

Tensor rand(const Shape& shape, Generator& gen, Dtype dtype) {
  if (detail::tensor_hooks) [[unlikely]] detail::tensor_hooks->draw("rand");
  Tensor t = detail::make_tensor(shape, dtype, "rand");
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t k = 0, n = t.numel(); k < n; ++k) p[k] = static_cast<T>(gen.uniform());
  });
  return t;
}

}  // namespace tapegrad
