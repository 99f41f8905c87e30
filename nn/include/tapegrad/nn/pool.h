#pragma once
/// \file pool.h
/// Max and average pooling layers over NCHW images, and Flatten.
#include <cstdint>
#include <string>

#include "tapegrad/autograd/ops.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// What MaxPool2d and AvgPool2d share: a square window, its stride (0: the kernel) and padding,
/// checked once, and the output shape.
class Pool2d : public Module {
 public:
  /// "MaxPool2d(kernel=2, stride=2, padding=0)".
  std::string str() const override;
  /// [N, C, OH, OW] for [N, C, H, W]; throws tg::Error naming the layer otherwise.
  Shape output_shape(const Shape& input) const override;
  /// The window size.
  int64_t kernel() const { return kernel_; }
  /// The step between windows.
  int64_t stride() const { return stride_; }
  /// The implicit padding on each side.
  int64_t padding() const { return padding_; }

 protected:
  /// `kind` is the layer's name; throws tg::Error naming it on a bad setting.
  Pool2d(const char* kind, int64_t kernel, int64_t stride, int64_t padding);
  /// The settings as the ops take them.
  Pool2dOptions options() const { return {.kernel = kernel_, .stride = stride_, .padding = padding_}; }
  /// Checks `x` as forward needs it (defined, [N, C, H, W] of a large enough size).
  void check_input(const Tensor& x) const;

 private:
  const char* kind_;
  int64_t kernel_, stride_, padding_;
};

/// max_pool2d over `kernel` x `kernel` windows; the stride defaults to the kernel.
class MaxPool2d : public Pool2d {
 public:
  /// Windows of `kernel`, moved by `stride` (0: the kernel), with `padding` on each side.
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : Pool2d("MaxPool2d", kernel, stride, padding) {}
  /// max_pool2d(x) with the layer's settings.
  Tensor forward(const Tensor& x) override;
  /// "MaxPool2d".
  std::string name() const override { return "MaxPool2d"; }
};

/// avg_pool2d over `kernel` x `kernel` windows; the stride defaults to the kernel.
class AvgPool2d : public Pool2d {
 public:
  /// Windows of `kernel`, moved by `stride` (0: the kernel), with `padding` on each side.
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : Pool2d("AvgPool2d", kernel, stride, padding) {}
  /// avg_pool2d(x) with the layer's settings.
  Tensor forward(const Tensor& x) override;
  /// "AvgPool2d".
  std::string name() const override { return "AvgPool2d"; }
};

/// Merges every axis after the batch axis: [N, C, H, W] -> [N, C H W], a reshape (no copy).
class Flatten : public Module {
 public:
  /// flatten(x, 1, -1) of x of rank 2 or more; throws tg::Error naming the shape otherwise.
  Tensor forward(const Tensor& x) override;
  /// "Flatten".
  std::string name() const override { return "Flatten"; }
  /// [N, product of the other sizes].
  Shape output_shape(const Shape& input) const override;
};

}  // namespace tapegrad::nn
