#pragma once
/// \file unflatten.h
/// Unflatten: one axis split into several, as torch.nn.Unflatten.
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// Splits axis `dim` into `sizes`, as torch.nn.Unflatten(dim, unflattened_size): with dim 1 and
/// sizes {1, 28, 28}, [N, 784] becomes [N, 1, 28, 28] (a reshape that shares the storage). It
/// lets a Sequential of image layers take a data loader's flat rows; Flatten is its inverse.
class Unflatten : public Module {
 public:
  /// Axis `dim` (negative counts from the end) into `sizes`, positive except at most one -1, which
  /// is inferred from the axis' length; throws tg::Error on no sizes, a size below -1 or 0, or two -1s.
  Unflatten(int64_t dim, std::vector<int64_t> sizes);
  /// reshape(x) to output_shape(x.shape()); throws tg::Error as output_shape does.
  Tensor forward(const Tensor& x) override;
  /// "Unflatten".
  std::string name() const override { return "Unflatten"; }
  /// "Unflatten(dim=1, sizes=[1, 28, 28])".
  std::string str() const override;
  /// The input's shape with axis `dim` replaced by `sizes`; throws tg::Error, naming the shape,
  /// when `dim` is out of range or the axis' length is not the product of the sizes.
  Shape output_shape(const Shape& input) const override;
  /// [-1, product of sizes] when dim is 1 or -1 and no size is inferred (so a Sequential that
  /// starts with it shows every shape); empty otherwise.
  Shape input_shape_hint() const override;
  /// The axis that is split, as given.
  int64_t dim() const { return dim_; }
  /// The sizes it is split into, as given.
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  int64_t dim_;
  std::vector<int64_t> sizes_;
};

}  // namespace tapegrad::nn
