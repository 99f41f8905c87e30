#include "tapegrad/nn/activation.h"

#include <sstream>

#include "tapegrad/autograd/ops.h"

namespace tapegrad::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tapegrad::tanh(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, axis_); }

std::string LeakyReLU::str() const {
  std::ostringstream os;
  os << "LeakyReLU(slope=" << slope_ << ")";
  return os.str();
}

std::string Softmax::str() const { return "Softmax(axis=" + std::to_string(axis_) + ")"; }

}  // namespace tapegrad::nn
