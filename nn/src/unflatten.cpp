#include "tapegrad/nn/unflatten.h"

#include <algorithm>
#include <utility>

#include "tapegrad/autograd/ops.h"

namespace tapegrad::nn {

Unflatten::Unflatten(int64_t dim, std::vector<int64_t> sizes) : dim_(dim), sizes_(std::move(sizes)) {
  if (sizes_.empty()) throw Error(str() + ": expected at least one size, got none");
  for (int64_t s : sizes_)
    if (s == 0 || s < -1) throw Error(str() + ": expected positive sizes (or one -1, inferred), got " + std::to_string(s));
  if (std::count(sizes_.begin(), sizes_.end(), int64_t{-1}) > 1)
    throw Error(str() + ": at most one size can be -1 (inferred), got two or more");
}

std::string Unflatten::str() const {
  std::string s = "Unflatten(dim=" + std::to_string(dim_) + ", sizes=[";
  for (size_t i = 0; i < sizes_.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes_[i]);
  return s + "])";
}

Shape Unflatten::output_shape(const Shape& input) const {
  const int64_t rank = static_cast<int64_t>(input.size());
  const int64_t d = dim_ < 0 ? dim_ + rank : dim_;
  if (d < 0 || d >= rank)
    throw Error(str() + ": input has shape " + input.str() + ", which has no dimension " + std::to_string(dim_));
  int64_t known = 1;
  for (int64_t s : sizes_)
    if (s > 0) known *= s;
  const int64_t length = input[static_cast<size_t>(d)];
  std::vector<int64_t> split = sizes_;
  // A length below 0 is Sequential's unknown batch size: nothing to check or infer.
  if (length >= 0) {
    const bool inferred = std::find(split.begin(), split.end(), int64_t{-1}) != split.end();
    if (inferred ? length % known != 0 : length != known)
      throw Error(str() + ": input has shape " + input.str() + ", whose dimension " + std::to_string(d) + " has " +
                  std::to_string(length) + " elements, but the sizes need " + (inferred ? "a multiple of " : "") +
                  std::to_string(known));
    for (int64_t& s : split)
      if (s == -1) s = length / known;
  }
  std::vector<int64_t> out(input.begin(), input.begin() + d);
  out.insert(out.end(), split.begin(), split.end());
  out.insert(out.end(), input.begin() + d + 1, input.end());
  return Shape(out);
}

Shape Unflatten::input_shape_hint() const {
  if ((dim_ != 1 && dim_ != -1) || std::find(sizes_.begin(), sizes_.end(), int64_t{-1}) != sizes_.end()) return {};
  int64_t features = 1;
  for (int64_t s : sizes_) features *= s;
  return Shape({-1, features});
}

Tensor Unflatten::forward(const Tensor& x) {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  const Shape out = output_shape(x.shape());
  return reshape(x, std::vector<int64_t>(out.begin(), out.end()));
}

}  // namespace tapegrad::nn
