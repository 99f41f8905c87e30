#include "tapegrad/nn/embedding.h"

#include <algorithm>
#include <vector>

#include "tapegrad/autograd/ops.h"
#include "tapegrad/nn/init.h"

namespace tapegrad::nn {

Embedding::Embedding(int64_t num, int64_t dim, EmbeddingOptions options) : num_(num), dim_(dim) {
  if (num <= 0 || dim <= 0)
    throw Error("Embedding: num and dim must be positive, got num=" + std::to_string(num) + " dim=" + std::to_string(dim));
  if (!is_floating(options.dtype))
    throw Error("Embedding: the table must be float32 or float64, got " + std::string(dtype_name(options.dtype)));
  if (options.padding_idx) {
    const int64_t p = *options.padding_idx;
    if (p < -num || p >= num)
      throw Error("Embedding: padding_idx " + std::to_string(p) + " is out of range for " + std::to_string(num) +
                  " rows");
    padding_idx_ = p < 0 ? p + num : p;
  }
  weight_ = tapegrad::zeros({num, dim}, options.dtype);
  init::normal(weight_, 0.0, 1.0, options.generator ? *options.generator : default_generator());
  if (padding_idx_) {  // the padding row starts at zero, as PyTorch's
    const int64_t at = *padding_idx_ * dim;
    if (options.dtype == Dtype::f32) std::fill_n(weight_.data<float>() + at, dim, 0.0f);
    else std::fill_n(weight_.data<double>() + at, dim, 0.0);
  }
  weight_.requires_grad(true);
}

std::string Embedding::str() const {
  std::string s = "Embedding(" + std::to_string(num_) + ", " + std::to_string(dim_);
  if (padding_idx_) s += ", padding_idx=" + std::to_string(*padding_idx_);
  return s + ")";
}

Shape Embedding::output_shape(const Shape& input) const {
  std::vector<int64_t> s = input.vec();
  s.push_back(dim_);
  return s;
}

Tensor Embedding::forward(const Tensor& indices) {
  if (!indices.defined()) throw Error(str() + ": the indices are undefined");
  if (indices.dtype() != Dtype::i64)
    throw Error(str() + ": expected int64 indices, got " + std::string(dtype_name(indices.dtype())) + " of shape " +
                indices.shape().str() + " (convert with .to(tg::Dtype::i64))");
  const std::vector<int64_t> idx = indices.to_vector<int64_t>();
  bool any_padding = false;
  for (size_t k = 0; k < idx.size(); ++k) {
    if (idx[k] < 0 || idx[k] >= num_)
      throw Error(str() + ": index " + std::to_string(idx[k]) + " at position " + std::to_string(k) +
                  " of indices " + indices.shape().str() + " is out of range [0, " + std::to_string(num_) + ")");
    any_padding |= padding_idx_ && idx[k] == *padding_idx_;
  }
  Tensor rows = index_select(weight_, 0, idx);
  if (any_padding) {
    // The padding rows keep their values but pass no gradient: where() takes them from the
    // detached table's rows (the same values), and its gradient to them is zero.
    std::vector<double> keep(static_cast<size_t>(rows.numel()), 1.0);
    for (size_t k = 0; k < idx.size(); ++k)
      if (idx[k] == *padding_idx_)
        std::fill_n(keep.begin() + static_cast<std::ptrdiff_t>(k) * dim_, dim_, 0.0);
    rows = where(from_vector(keep, rows.shape(), rows.dtype()), rows, rows.detach());
  }
  return reshape(rows, output_shape(indices.shape()).vec());
}

}  // namespace tapegrad::nn
