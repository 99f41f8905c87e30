#pragma once
/// \file linear.h
/// The fully connected layer Y = X W + b.
#include <cstdint>
#include <string>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// How Linear initialises its parameters.
enum class LinearInit {
  /// PyTorch's default: W and b from U(-1/sqrt(in), 1/sqrt(in)) (Kaiming-uniform with gain
  /// 1/sqrt(3)). The bound shrinks with fan-in, so X W keeps its scale as layers widen, and
  /// models and learning rates ported from PyTorch behave the same.
  pytorch,
  /// init::kaiming_uniform (gain sqrt(2), for ReLU) on W; b = 0.
  kaiming_uniform,
  /// init::kaiming_normal (gain sqrt(2), for ReLU) on W; b = 0.
  kaiming_normal,
  /// init::xavier_uniform (gain 1, for tanh and sigmoid) on W; b = 0.
  xavier_uniform,
  /// init::xavier_normal (gain 1, for tanh and sigmoid) on W; b = 0.
  xavier_normal,
};

/// Settings of Linear, for designated initializers: `Linear(3, 2, {.bias = false})`.
struct LinearOptions {
  bool bias = true;                        ///< add the bias vector b
  LinearInit init = LinearInit::pytorch;   ///< how W and b start
  Dtype dtype = Dtype::f32;                ///< element type of W and b
  Generator* generator = nullptr;          ///< source of the initial values; nullptr: default_generator()
};

/// Fully connected layer: Y = X W + b with W of shape {in, out} and b of shape {out} broadcast
/// over rows. X may be {in}, {batch, in} or {..., in}. The default initialisation is PyTorch's
/// (see LinearInit::pytorch), in float32, drawn from default_generator().
class Linear : public Module {
 public:
  /// A layer from `in` features to `out` features.
  Linear(int64_t in, int64_t out, LinearOptions options = {});

  /// X W + b; throws tg::Error naming the layer and the shapes if X's last dimension is not `in`
  /// or its dtype is not the layer's.
  Tensor forward(const Tensor& x) override;
  /// "Linear".
  std::string name() const override { return "Linear"; }
  /// "Linear(in=3, out=2, bias=true)".
  std::string str() const override;
  /// X's shape with the last dimension replaced by `out`.
  Shape output_shape(const Shape& input) const override;
  /// [-1, in].
  Shape input_shape_hint() const override { return {-1, in_}; }
  /// "weight" and, with a bias, "bias".
  NamedTensors own_parameters() const override;
  /// The weight is [in, out] here and [out, in] in PyTorch.
  TorchLayout torch_layout(const std::string& name) const override;

  /// The weight W, {in, out}; assign to it to replace the parameter.
  Tensor& weight() { return weight_; }
  /// The weight W, {in, out}.
  const Tensor& weight() const { return weight_; }
  /// The bias b, {out}; undefined when built with bias = false.
  Tensor& bias() { return bias_; }
  /// The bias b, {out}.
  const Tensor& bias() const { return bias_; }
  /// Number of input features.
  int64_t in_features() const { return in_; }
  /// Number of output features.
  int64_t out_features() const { return out_; }

 private:
  void check_input(const Shape& s) const;
  int64_t in_, out_;
  Tensor weight_, bias_;
};

}  // namespace tapegrad::nn
