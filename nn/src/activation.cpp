#include "tapegrad/nn/activation.h"

#include <sstream>

#include "tapegrad/autograd/ops.h"

namespace tapegrad::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tapegrad::tanh(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, axis_); }
Tensor Softplus::forward(const Tensor& x) { return softplus(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x); }
Tensor ELU::forward(const Tensor& x) { return elu(x, alpha_); }

std::string ELU::str() const {
  std::ostringstream os;
  os << "ELU(alpha=" << alpha_ << ")";
  return os.str();
}

std::string LeakyReLU::str() const {
  std::ostringstream os;
  os << "LeakyReLU(slope=" << slope_ << ")";
  return os.str();
}

std::string Softmax::str() const { return "Softmax(axis=" + std::to_string(axis_) + ")"; }

}  // namespace tapegrad::nn
