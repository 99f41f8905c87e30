#include "tapegrad/autograd/testing.h"

#include "tensor_impl.h"

namespace tapegrad {

namespace {
std::vector<OpEntry>& entries() {
  static std::vector<OpEntry> all;
  return all;
}
}  // namespace

const std::vector<OpEntry>& op_registry() { return entries(); }

void register_op(OpEntry entry) { entries().push_back(std::move(entry)); }
RegisterOp::RegisterOp(OpEntry entry) { register_op(std::move(entry)); }

namespace samples {
Tensor normal(const Shape& shape, Dtype dtype, Generator& gen) { return randn(shape, gen, dtype); }

Tensor uniform(const Shape& shape, double lo, double hi, Dtype dtype, Generator& gen) {
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  for (double& x : v) x = gen.uniform(lo, hi);
  return from_vector(v, shape, dtype);
}

Tensor away_from(const Shape& shape, double kink, double gap, Dtype dtype, Generator& gen) {
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  for (double& x : v) {
    double z = gen.normal();
    x = kink + (z >= 0 ? gap + z : -gap + z);
  }
  return from_vector(v, shape, dtype);
}
}  // namespace samples

}  // namespace tapegrad
