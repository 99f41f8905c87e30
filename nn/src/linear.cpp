#include "tapegrad/nn/linear.h"

#include <cmath>

#include "tapegrad/autograd/ops.h"
#include "tapegrad/nn/init.h"

namespace tapegrad::nn {

Linear::Linear(int64_t in, int64_t out, LinearOptions options) : in_(in), out_(out) {
  if (in <= 0 || out <= 0)
    throw Error("Linear: in and out must be positive, got in=" + std::to_string(in) + " out=" + std::to_string(out));
  Generator& gen = options.generator ? *options.generator : default_generator();
  weight_ = tapegrad::zeros({in, out}, options.dtype);
  if (options.bias) bias_ = tapegrad::zeros({out}, options.dtype);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  switch (options.init) {
    case LinearInit::pytorch:
      init::uniform(weight_, -bound, bound, gen);
      if (options.bias) init::uniform(bias_, -bound, bound, gen);
      break;
    case LinearInit::kaiming_uniform: init::kaiming_uniform(weight_, gen); break;
    case LinearInit::kaiming_normal: init::kaiming_normal(weight_, gen); break;
    case LinearInit::xavier_uniform: init::xavier_uniform(weight_, gen); break;
    case LinearInit::xavier_normal: init::xavier_normal(weight_, gen); break;
  }
  weight_.requires_grad(true);
  if (options.bias) bias_.requires_grad(true);
}

std::string Linear::str() const {
  return "Linear(in=" + std::to_string(in_) + ", out=" + std::to_string(out_) +
         ", bias=" + (bias_.defined() ? "true" : "false") + ")";
}

void Linear::check_input(const Shape& s) const {
  if (s.empty() || s.back() != in_)
    throw Error(str() + ": input has shape " + s.str() + " but its last dimension must be " + std::to_string(in_) +
                " (weight has shape " + (weight_.defined() ? weight_.shape().str() : "(undefined)") + ")");
}

Shape Linear::output_shape(const Shape& input) const {
  check_input(input);
  std::vector<int64_t> s = input.vec();
  s.back() = out_;
  return s;
}

Tensor Linear::forward(const Tensor& x) {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  check_input(x.shape());
  if (!weight_.defined()) throw Error(str() + ": the weight is undefined");
  if (x.dtype() != weight_.dtype())
    throw Error(str() + ": input is " + std::string(dtype_name(x.dtype())) + " but the weight is " +
                std::string(dtype_name(weight_.dtype())) + "; convert with to()");
  Tensor y;
  if (x.dim() <= 2) {
    y = matmul(x, weight_);
  } else {  // {..., in}: flatten the leading dimensions into rows and restore them after
    std::vector<int64_t> out_shape = x.shape().vec();
    out_shape.back() = out_;
    y = reshape(matmul(reshape(x, {-1, in_}), weight_), out_shape);
  }
  return bias_.defined() ? y + bias_ : y;
}

TorchLayout Linear::torch_layout(const std::string& name) const {
  return name == "weight" ? TorchLayout::transposed : TorchLayout::same;
}

NamedTensors Linear::own_parameters() const {
  NamedTensors p{{"weight", weight_}};
  if (bias_.defined()) p.emplace_back("bias", bias_);
  return p;
}

}  // namespace tapegrad::nn
