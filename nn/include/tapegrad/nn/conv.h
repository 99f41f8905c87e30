#pragma once
/// \file conv.h
/// The 2-D convolution layer, on NCHW images.
#include <cstdint>
#include <string>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// Settings of Conv2d, for designated initializers: `Conv2d(1, 32, 3, {.padding = 1})`.
struct Conv2dOptions {
  int64_t stride = 1;              ///< step between output positions
  int64_t padding = 0;             ///< zeros added on each side of H and W
  int64_t dilation = 1;            ///< spacing between kernel taps
  bool bias = true;                ///< add a bias per output channel
  Dtype dtype = Dtype::f32;        ///< element type of the weight and bias
  Generator* generator = nullptr;  ///< source of the initial values; nullptr: default_generator()
};

/// conv2d(x, weight, bias) with weight [out, in, k, k] and bias [out], the layouts of PyTorch.
/// Initialised as PyTorch does: Kaiming-uniform with a = sqrt(5), that is weight and bias from
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in k k.
class Conv2d : public Module {
 public:
  /// A layer from `in` channels to `out` channels with a `kernel` x `kernel` window; throws
  /// tg::Error unless in, out and kernel are positive, stride >= 1, padding >= 0, dilation >= 1.
  Conv2d(int64_t in, int64_t out, int64_t kernel, Conv2dOptions options = {});
  /// conv2d of x [N, in, H, W]; throws tg::Error naming the layer and the shapes otherwise.
  Tensor forward(const Tensor& x) override;
  /// "Conv2d".
  std::string name() const override { return "Conv2d"; }
  /// "Conv2d(in=1, out=32, kernel=3, stride=1, padding=1, bias=true)" (dilation when not 1).
  std::string str() const override;
  /// [N, out, OH, OW] for [N, in, H, W].
  Shape output_shape(const Shape& input) const override;
  /// "weight" and, with a bias, "bias".
  NamedTensors own_parameters() const override;

  /// The weight, [out, in, k, k].
  Tensor& weight() { return weight_; }
  /// The weight, [out, in, k, k].
  const Tensor& weight() const { return weight_; }
  /// The bias, [out]; undefined when built with bias = false.
  Tensor& bias() { return bias_; }
  /// The bias, [out]; undefined when built with bias = false.
  const Tensor& bias() const { return bias_; }
  /// Number of input channels.
  int64_t in_channels() const { return in_; }
  /// Number of output channels.
  int64_t out_channels() const { return out_; }
  /// The kernel's height and width.
  int64_t kernel_size() const { return kernel_; }

 private:
  int64_t in_, out_, kernel_;
  Conv2dOptions options_;
  Tensor weight_, bias_;
};

}  // namespace tapegrad::nn
