#pragma once
/// \file rnn.h
/// The recurrent nets the tool trains with --model lstm and --model gru: each 28x28 image read as
/// a sequence of 28 rows of 28 pixels (sequential MNIST).
#include <cstdint>
#include <string>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// The recurrent layer's hidden size.
inline constexpr int64_t kRnnHidden = 128;

/// nn::Unflatten(1, {28, 28}) to [N, 28 steps, 28 pixels], LSTM (or GRU) (28, 128, batch_first),
/// nn::Select(1, -1) for its last step's output, Linear(128, classes): raw logits out of [N, 784]
/// rows. A plain Sequential of library modules, so any program (or PyTorch, layer for layer)
/// rebuilds it; initial weights come from Generator(seed) alone. `model` is "lstm" or "gru".
tapegrad::nn::Sequential build_recurrent(const std::string& model, int64_t classes, uint64_t seed);

/// "rows28-lstm128-10".
std::string describe_recurrent(const std::string& model, int64_t classes);

}  // namespace tapegrad_train
