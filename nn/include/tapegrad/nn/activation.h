#pragma once
/// \file activation.h
/// Elementwise activations and softmax as modules, for use in a Sequential. Each forwards to the
/// core op of the same name (tg::relu, tg::sigmoid, ...), which records it on the tape.
#include <cstdint>
#include <string>

#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// max(x, 0) elementwise.
class ReLU : public Module {
 public:
  /// tg::relu(x).
  Tensor forward(const Tensor& x) override;
  /// "ReLU".
  std::string name() const override { return "ReLU"; }
};

/// 1 / (1 + e^-x) elementwise, stable for any x.
class Sigmoid : public Module {
 public:
  /// tg::sigmoid(x).
  Tensor forward(const Tensor& x) override;
  /// "Sigmoid".
  std::string name() const override { return "Sigmoid"; }
};

/// Hyperbolic tangent elementwise.
class Tanh : public Module {
 public:
  /// tg::tanh(x).
  Tensor forward(const Tensor& x) override;
  /// "Tanh".
  std::string name() const override { return "Tanh"; }
};

/// x for x > 0, slope * x otherwise.
class LeakyReLU : public Module {
 public:
  /// Slope 0.01 for negative inputs, as in PyTorch.
  LeakyReLU() = default;
  /// A given slope for negative inputs.
  explicit LeakyReLU(double slope) : slope_(slope) {}
  /// tg::leaky_relu(x, slope).
  Tensor forward(const Tensor& x) override;
  /// "LeakyReLU".
  std::string name() const override { return "LeakyReLU"; }
  /// "LeakyReLU(slope=0.01)".
  std::string str() const override;
  /// The slope for negative inputs.
  double slope() const { return slope_; }

 private:
  double slope_ = 0.01;
};

/// log(1 + e^x) elementwise, without overflow.
class Softplus : public Module {
 public:
  /// tg::softplus(x).
  Tensor forward(const Tensor& x) override;
  /// "Softplus".
  std::string name() const override { return "Softplus"; }
};

/// x * sigmoid(x) elementwise (also called swish).
class SiLU : public Module {
 public:
  /// tg::silu(x).
  Tensor forward(const Tensor& x) override;
  /// "SiLU".
  std::string name() const override { return "SiLU"; }
};

/// x * Phi(x) elementwise, in the exact erf form.
class GELU : public Module {
 public:
  /// tg::gelu(x).
  Tensor forward(const Tensor& x) override;
  /// "GELU".
  std::string name() const override { return "GELU"; }
};

/// x for x > 0, alpha (e^x - 1) otherwise.
class ELU : public Module {
 public:
  /// alpha = 1, as in PyTorch.
  ELU() = default;
  /// A given alpha.
  explicit ELU(double alpha) : alpha_(alpha) {}
  /// tg::elu(x, alpha).
  Tensor forward(const Tensor& x) override;
  /// "ELU".
  std::string name() const override { return "ELU"; }
  /// "ELU(alpha=1)".
  std::string str() const override;
  /// The scale of the negative part.
  double alpha() const { return alpha_; }

 private:
  double alpha_ = 1.0;
};

/// exp(x) / sum(exp(x)) over one axis, with the maximum subtracted first. The default axis is -1
/// (the last one: the class axis of {batch, classes} logits, as PyTorch's dim=-1). For training
/// against labels prefer CrossEntropyLoss on raw logits: it is fused and more accurate.
class Softmax : public Module {
 public:
  /// Softmax over the last axis.
  Softmax() = default;
  /// Softmax over `axis` (negative counts from the end).
  explicit Softmax(int64_t axis) : axis_(axis) {}
  /// tg::softmax(x, axis).
  Tensor forward(const Tensor& x) override;
  /// "Softmax".
  std::string name() const override { return "Softmax"; }
  /// "Softmax(axis=-1)".
  std::string str() const override;
  /// The axis normalised over.
  int64_t axis() const { return axis_; }

 private:
  int64_t axis_ = -1;
};

}  // namespace tapegrad::nn
