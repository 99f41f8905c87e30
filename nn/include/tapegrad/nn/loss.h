#pragma once
/// \file loss.h
/// The core losses (tg::softmax_cross_entropy, tg::mse_loss, tg::binary_cross_entropy_with_logits)
/// as callable objects, for code that passes a loss around. Each returns the mean over the batch.
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad::nn {

/// Mean cross-entropy of softmax(logits) against class labels, fused and stable
/// (tg::softmax_cross_entropy). Takes raw logits {batch, classes}, not probabilities.
class CrossEntropyLoss {
 public:
  /// Loss against class indices, one per row of `logits`.
  Tensor operator()(const Tensor& logits, const std::vector<int64_t>& labels) const;
  /// Loss against a tensor: rank 1 holds class indices, rank 2 target probabilities.
  Tensor operator()(const Tensor& logits, const Tensor& target) const;
  /// "CrossEntropyLoss".
  std::string str() const { return "CrossEntropyLoss"; }
};

/// Mean of (prediction - target)^2 over all elements (tg::mse_loss).
class MSELoss {
 public:
  /// The loss; shapes must match.
  Tensor operator()(const Tensor& prediction, const Tensor& target) const;
  /// "MSELoss".
  std::string str() const { return "MSELoss"; }
};

/// Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from the
/// logits without overflow (tg::binary_cross_entropy_with_logits).
class BCEWithLogitsLoss {
 public:
  /// The loss; shapes must match.
  Tensor operator()(const Tensor& logits, const Tensor& target) const;
  /// "BCEWithLogitsLoss".
  std::string str() const { return "BCEWithLogitsLoss"; }
};

}  // namespace tapegrad::nn
