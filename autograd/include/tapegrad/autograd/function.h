#pragma once
/// \file function.h
/// User-defined differentiable functions: a forward and a backward, used like a built-in op.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// What a user function's backward receives.
struct FunctionContext {
  const std::vector<Tensor>& inputs;  ///< the inputs the forward was called with
  const Tensor& output;               ///< the forward's result
  const Tensor& grad_output;          ///< gradient of the loss with respect to the output
};

/// The definition of a user function (shared by every node that uses it).
struct FunctionDef {
  std::string name;  ///< shown in errors, DOT export and gradcheck reports
  /// Computes the output from the inputs; runs with recording off.
  std::function<Tensor(const std::vector<Tensor>&)> forward;
  /// Returns one gradient per input (same shape; an undefined Tensor for "none").
  std::function<std::vector<Tensor>(const FunctionContext&)> backward;
};

/// A user-defined op. Example:
/// \code
/// tg::Function softplus("softplus",
///     [](const std::vector<tg::Tensor>& in) { return tg::log(1.0 + tg::exp(in[0])); },
///     [](const tg::FunctionContext& c) { return std::vector<tg::Tensor>{c.grad_output * tg::sigmoid(c.inputs[0])}; });
/// tg::Tensor y = softplus({x});
/// \endcode
class Function {
 public:
  /// Defines a function from its name, forward and backward.
  Function(std::string name, std::function<Tensor(const std::vector<Tensor>&)> forward,
           std::function<std::vector<Tensor>(const FunctionContext&)> backward);
  /// Runs the forward and records one node whose backward is the user's.
  Tensor operator()(const std::vector<Tensor>& inputs) const;
  /// The function's name.
  const std::string& name() const { return def_->name; }

 private:
  std::shared_ptr<const FunctionDef> def_;
};

}  // namespace tapegrad
