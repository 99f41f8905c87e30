#include "tapegrad/nn/loss.h"

#include "tapegrad/autograd/ops.h"

namespace tapegrad::nn {

Tensor CrossEntropyLoss::operator()(const Tensor& logits, const std::vector<int64_t>& labels) const {
  return softmax_cross_entropy(logits, labels);
}

Tensor CrossEntropyLoss::operator()(const Tensor& logits, const Tensor& target) const {
  return softmax_cross_entropy(logits, target);
}

Tensor MSELoss::operator()(const Tensor& prediction, const Tensor& target) const {
  return mse_loss(prediction, target);
}

Tensor BCEWithLogitsLoss::operator()(const Tensor& logits, const Tensor& target) const {
  return binary_cross_entropy_with_logits(logits, target);
}

}  // namespace tapegrad::nn
