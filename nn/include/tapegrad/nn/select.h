#pragma once
/// \file select.h
/// Select: one position along an axis, the axis dropped (a sequence's last step for a classifier).
#include <cstdint>
#include <string>

#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// x[..., index, ...] along axis `dim`, which is dropped (tg::select): Select(1, -1) takes the
/// last step of a batch-first LSTM's outputs [N, T, H], giving [N, H] for a Linear classifier,
/// as PyTorch code writes `out[:, -1, :]`. Negative `dim` and `index` count from the end.
class Select : public Module {
 public:
  /// Position `index` along axis `dim`.
  Select(int64_t dim, int64_t index) : dim_(dim), index_(index) {}
  /// select(x, dim, index); throws tg::Error naming the shape when either is out of range.
  Tensor forward(const Tensor& x) override;
  /// "Select".
  std::string name() const override { return "Select"; }
  /// "Select(dim=1, index=-1)".
  std::string str() const override;
  /// The input's shape without axis `dim`.
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t dim_, index_;
};

}  // namespace tapegrad::nn
