#pragma once
/// \file mlp.h
/// The multilayer perceptron the tool trains, and the optimizer chosen by name.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// Linear(inputs, hidden[0]), ReLU, ..., Linear(hidden.back(), classes): raw logits out, for
/// softmax cross-entropy. Initial weights (PyTorch's default init) come from Generator(seed) alone.
tapegrad::nn::Sequential build_mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes,
                                   uint64_t seed);

/// "784-50-10".
std::string describe_mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes);

/// The optimizer named `name` over `params`: sgd (plain), momentum (SGD with momentum 0.9),
/// adam, adamw, adagrad or rmsprop, each with PyTorch's other defaults. Throws std::invalid_argument
/// for another name.
std::unique_ptr<tapegrad::optim::Optimizer> make_optimizer(const std::string& name,
                                                           std::vector<tapegrad::Tensor> params, double lr);

}  // namespace tapegrad_train
