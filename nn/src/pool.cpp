#include "tapegrad/nn/pool.h"

#include "tapegrad/autograd/ops.h"

namespace tapegrad::nn {

Pool2d::Pool2d(const char* kind, int64_t kernel, int64_t stride, int64_t padding)
    : kind_(kind), kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {
  if (kernel < 1 || stride < 0 || padding < 0)
    throw Error(str() + ": expected kernel >= 1, stride >= 0 (0 for the kernel) and padding >= 0");
  if (2 * padding > kernel) throw Error(str() + ": padding must be at most half the kernel");
}

std::string Pool2d::str() const {
  return std::string(kind_) + "(kernel=" + std::to_string(kernel_) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_) + ")";
}

Shape Pool2d::output_shape(const Shape& input) const {
  if (input.size() != 4) throw Error(str() + ": input has shape " + input.str() + " but must be [N, C, H, W]");
  const int64_t h = input[2] + 2 * padding_, w = input[3] + 2 * padding_;
  if (h < kernel_ || w < kernel_)
    throw Error(str() + ": input has shape " + input.str() + ", whose padded size " + std::to_string(h) + "x" +
                std::to_string(w) + " is smaller than the window " + std::to_string(kernel_) + "x" +
                std::to_string(kernel_));
  return {input[0], input[1], (h - kernel_) / stride_ + 1, (w - kernel_) / stride_ + 1};
}

void Pool2d::check_input(const Tensor& x) const {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  output_shape(x.shape());
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_input(x);
  return max_pool2d(x, options());
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_input(x);
  return avg_pool2d(x, options());
}

Shape Flatten::output_shape(const Shape& input) const {
  if (input.size() < 2)
    throw Error("Flatten: input has shape " + input.str() + " but must have a batch axis and at least one more");
  int64_t features = 1;
  for (size_t d = 1; d < input.size(); ++d) features *= input[d];
  return {input[0], features};
}

Tensor Flatten::forward(const Tensor& x) {
  if (!x.defined()) throw Error("Flatten: the input is undefined");
  output_shape(x.shape());
  return flatten(x, 1, -1);
}

}  // namespace tapegrad::nn
