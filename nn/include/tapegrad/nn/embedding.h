#pragma once
/// \file embedding.h
/// A lookup table of learned vectors, one per index (torch.nn.Embedding).
#include <cstdint>
#include <optional>
#include <string>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// Settings of Embedding, for designated initializers: `Embedding(5, 4, {.padding_idx = 0})`.
struct EmbeddingOptions {
  /// The index whose row is zero at the start and gets no gradient (a padding token); negative
  /// counts from the end, as in PyTorch.
  std::optional<int64_t> padding_idx = std::nullopt;
  Dtype dtype = Dtype::f32;        ///< element type of the table
  Generator* generator = nullptr;  ///< source of the initial values; nullptr: default_generator()
};

/// `num` vectors of `dim` elements, initialised from N(0, 1) as PyTorch's. A call takes int64
/// indices of any shape and returns their rows, of shape indices.shape + [dim]. The gradient adds
/// the upstream rows of repeated indices; the row at padding_idx gets none.
class Embedding : public Module {
 public:
  /// A table of `num` rows of `dim`.
  Embedding(int64_t num, int64_t dim, EmbeddingOptions options = {});

  /// The rows of `indices` (an int64 tensor); throws tg::Error naming the index and its position
  /// when one is out of [0, num).
  Tensor forward(const Tensor& indices) override;
  /// "Embedding".
  std::string name() const override { return "Embedding"; }
  /// "Embedding(5, 4, padding_idx=0)".
  std::string str() const override;
  /// indices' shape with [dim] appended.
  Shape output_shape(const Shape& input) const override;
  /// "weight".
  NamedTensors own_parameters() const override { return {{"weight", weight_}}; }

  /// The table, [num, dim]; assign to it to replace the parameter.
  Tensor& weight() { return weight_; }
  /// The table, [num, dim].
  const Tensor& weight() const { return weight_; }
  /// The padding index (made non-negative), if any.
  std::optional<int64_t> padding_idx() const { return padding_idx_; }

 private:
  int64_t num_, dim_;
  std::optional<int64_t> padding_idx_;
  Tensor weight_;
};

}  // namespace tapegrad::nn
