#pragma once
/// \file cnn.h
/// The small convolutional net the tool trains with --model cnn, on 28x28 grey images.
#include <cstdint>
#include <string>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// The CNN's images: 1 channel of 28 x 28 pixels, which arrive as rows of 784 features.
inline constexpr int64_t kCnnImageSide = 28;
inline constexpr int64_t kCnnInputs = kCnnImageSide * kCnnImageSide;

/// nn::Unflatten(1, {1, 28, 28}) to [N, 1, 28, 28], Conv2d(1, 32, 3, padding 1), ReLU,
/// MaxPool2d(2), Conv2d(32, 64, 3, padding 1), ReLU, MaxPool2d(2), Flatten, Linear(3136, 128),
/// ReLU, Linear(128, classes): raw logits out of [N, 784] rows. A plain Sequential of library
/// modules, so any program (or PyTorch, layer for layer) rebuilds it. Initial weights (PyTorch's
/// default init) come from Generator(seed) alone.
tapegrad::nn::Sequential build_cnn(int64_t classes, uint64_t seed);

/// "conv32-pool-conv64-pool-128-10".
std::string describe_cnn(int64_t classes);

}  // namespace tapegrad_train
