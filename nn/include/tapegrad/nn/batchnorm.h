#pragma once
/// \file batchnorm.h
/// Batch normalisation layers with running statistics.
#include <cstdint>
#include <string>

#include "tapegrad/core/dtype.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// Settings of BatchNorm1d and BatchNorm2d (PyTorch's defaults).
struct BatchNormOptions {
  double eps = 1e-5;         ///< added to the variance before the square root
  double momentum = 0.1;     ///< running = (1 - momentum) running + momentum batch statistic
  bool affine = true;        ///< learn a scale ("weight", ones) and a shift ("bias", zeros)
  Dtype dtype = Dtype::f32;  ///< element type of parameters and buffers
};

/// batch_norm over the channels of its input. In training mode it normalises with the batch's
/// statistics and updates the running ones; in eval mode it uses the running ones. Its buffers
/// "running_mean" (zeros), "running_var" (ones) and "num_batches_tracked" (a rank-0 count) are in
/// state_dict() and checkpoints, never in parameters().
class BatchNorm : public Module {
 public:
  /// batch_norm of x ([N, C] or [N, C, L] for BatchNorm1d, [N, C, H, W] for BatchNorm2d, C the
  /// features) with the batch's statistics in training mode, which also updates the running ones
  /// and counts the batch, or with the running ones in eval mode; throws tg::Error naming the
  /// layer and the shapes on a wrong rank, channel count or dtype.
  Tensor forward(const Tensor& x) override;
  /// "BatchNorm2d(features=4, eps=1e-05, momentum=0.1, affine=true)".
  std::string str() const override;
  /// The input's shape, after the checks of forward().
  Shape output_shape(const Shape& input) const override;
  /// "weight" and "bias" with affine; none without.
  NamedTensors own_parameters() const override;
  /// "running_mean", "running_var" and "num_batches_tracked".
  NamedTensors own_buffers() const override;
  /// num_batches_tracked is a float here and an int64 in PyTorch.
  TorchLayout torch_layout(const std::string& name) const override;

  /// The scale, [C] (undefined without affine).
  Tensor& weight() { return weight_; }
  /// The shift, [C] (undefined without affine).
  Tensor& bias() { return bias_; }
  /// The running mean, [C].
  const Tensor& running_mean() const { return running_mean_; }
  /// The running (unbiased) variance, [C].
  const Tensor& running_var() const { return running_var_; }
  /// The number of training batches seen, as a rank-0 tensor (int64 in PyTorch's state dict).
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }
  /// The number of channels C.
  int64_t num_features() const { return features_; }

 protected:
  /// A layer over `features` channels of inputs of rank `input_rank` (2: BatchNorm1d, which also
  /// takes rank 3; 4: BatchNorm2d), with the parameters and buffers of the given dtype. Throws
  /// tg::Error unless features > 0, eps > 0 and momentum is in [0, 1].
  BatchNorm(int64_t features, int64_t input_rank, BatchNormOptions options);

 private:
  int64_t features_, rank_;
  BatchNormOptions options_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

/// BatchNorm over [N, C] (or [N, C, L]) inputs.
class BatchNorm1d : public BatchNorm {
 public:
  /// A layer over `features` channels.
  explicit BatchNorm1d(int64_t features, BatchNormOptions options = {}) : BatchNorm(features, 2, options) {}
  /// "BatchNorm1d".
  std::string name() const override { return "BatchNorm1d"; }
};

/// BatchNorm over [N, C, H, W] inputs.
class BatchNorm2d : public BatchNorm {
 public:
  /// A layer over `features` channels.
  explicit BatchNorm2d(int64_t features, BatchNormOptions options = {}) : BatchNorm(features, 4, options) {}
  /// "BatchNorm2d".
  std::string name() const override { return "BatchNorm2d"; }
};

}  // namespace tapegrad::nn
