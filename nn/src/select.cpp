#include "tapegrad/nn/select.h"

#include <vector>

#include "tapegrad/autograd/ops.h"

namespace tapegrad::nn {

std::string Select::str() const { return "Select(dim=" + std::to_string(dim_) + ", index=" + std::to_string(index_) + ")"; }

Shape Select::output_shape(const Shape& input) const {
  const int64_t rank = static_cast<int64_t>(input.size());
  const int64_t d = dim_ < 0 ? dim_ + rank : dim_;
  if (d < 0 || d >= rank)
    throw Error(str() + ": input has shape " + input.str() + ", which has no dimension " + std::to_string(dim_));
  const int64_t n = input[static_cast<size_t>(d)];
  if (n >= 0 && (index_ < -n || index_ >= n))  // n < 0: Sequential's unknown batch size
    throw Error(str() + ": index " + std::to_string(index_) + " is out of range for dimension " + std::to_string(d) +
                " of " + input.str());
  std::vector<int64_t> out = input.vec();
  out.erase(out.begin() + d);
  return Shape(out);
}

Tensor Select::forward(const Tensor& x) {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  output_shape(x.shape());
  return select(x, dim_, index_);
}

}  // namespace tapegrad::nn
