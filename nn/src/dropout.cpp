#include "tapegrad/nn/dropout.h"

#include <sstream>
#include <vector>

#include "tapegrad/autograd/compile.h"
#include "tapegrad/autograd/ops.h"
#include "tapegrad/nn/init.h"

namespace tapegrad::nn {

Dropout::Dropout(double p, Generator* gen) : p_(p), gen_(gen) {
  if (!(p >= 0.0 && p <= 1.0)) {
    std::ostringstream os;
    os << "Dropout: p must be in [0, 1], got " << p;
    throw Error(os.str());
  }
}

Tensor Dropout::forward(const Tensor& x) {
  if (p_ != 0.0) compile_depends_on_mode();  // compiled in eval mode: never replayed as the identity in training
  if (!is_training() || p_ == 0.0) return x;
  if (!x.defined()) throw Error("Dropout: the input is undefined");
  if (is_compiling())
    throw Error(str() + ": in training mode its mask would be drawn once by compile() and replayed at every step; "
                "run the step eagerly, or pass the mask as an input of the compiled function");
  Generator& gen = gen_ ? *gen_ : default_generator();
  const double keep_scale = p_ < 1.0 ? 1.0 / (1.0 - p_) : 0.0;
  std::vector<double> mask(static_cast<size_t>(x.numel()));
  for (double& m : mask) m = gen.uniform() >= p_ ? keep_scale : 0.0;
  return mul(x, from_vector(mask, x.shape(), x.dtype()));
}

std::string Dropout::str() const {
  std::ostringstream os;
  os << "Dropout(p=" << p_ << ")";
  return os.str();
}

}  // namespace tapegrad::nn
