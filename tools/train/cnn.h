#pragma once
/// \file cnn.h
/// The small convolutional net the tool trains with --model cnn, on 28x28 grey images.
#include <cstdint>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// The CNN's images: 1 channel of 28 x 28 pixels, which arrive as rows of 784 features.
inline constexpr int64_t kCnnImageSide = 28;
inline constexpr int64_t kCnnInputs = kCnnImageSide * kCnnImageSide;

/// Reshapes [N, product of sizes] to [N, sizes...] (a view, no copy), as torch.nn.Unflatten(1,
/// sizes): lets a Sequential of image layers take the data loader's flat rows.
class Unflatten : public tapegrad::nn::Module {
 public:
  /// Per-example sizes, e.g. {1, 28, 28}; throws tg::Error unless there is at least one and each is positive.
  explicit Unflatten(std::vector<int64_t> sizes);
  /// reshape(x, [N, sizes...]) of x [N, product of sizes]; throws tg::Error naming both shapes otherwise.
  tapegrad::Tensor forward(const tapegrad::Tensor& x) override;
  /// "Unflatten".
  std::string name() const override { return "Unflatten"; }
  /// "Unflatten(sizes=[1, 28, 28])".
  std::string str() const override;
  /// [N, sizes...] for [N, product of sizes].
  tapegrad::Shape output_shape(const tapegrad::Shape& input) const override;
  /// [-1, product of sizes]: fixes the input, so Sequential::str() can show every shape.
  tapegrad::Shape input_shape_hint() const override;

 private:
  std::vector<int64_t> sizes_;
  int64_t features_ = 1;
};

/// Unflatten to [N, 1, 28, 28], Conv2d(1, 32, 3, padding 1), ReLU, MaxPool2d(2), Conv2d(32, 64, 3,
/// padding 1), ReLU, MaxPool2d(2), Flatten, Linear(3136, 128), ReLU, Linear(128, classes): raw
/// logits out of [N, 784] rows. Initial weights (PyTorch's default init) come from Generator(seed) alone.
tapegrad::nn::Sequential build_cnn(int64_t classes, uint64_t seed);

/// "conv32-pool-conv64-pool-128-10".
std::string describe_cnn(int64_t classes);

}  // namespace tapegrad_train
