#include "cnn.h"

#include <utility>

namespace tg = tapegrad;

namespace tapegrad_train {

Unflatten::Unflatten(std::vector<int64_t> sizes) : sizes_(std::move(sizes)) {
  if (sizes_.empty()) throw tg::Error("Unflatten: expected at least one size, got none");
  for (int64_t s : sizes_) {
    if (s < 1) throw tg::Error(str() + ": expected positive sizes");
    features_ *= s;
  }
}

std::string Unflatten::str() const {
  std::string s = "Unflatten(sizes=[";
  for (size_t i = 0; i < sizes_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(sizes_[i]);
  }
  return s + "])";
}

tg::Shape Unflatten::output_shape(const tg::Shape& input) const {
  if (input.size() != 2 || input[1] != features_)
    throw tg::Error(str() + ": input has shape " + input.str() + " but must be [N, " + std::to_string(features_) + "]");
  std::vector<int64_t> out{input[0]};
  out.insert(out.end(), sizes_.begin(), sizes_.end());
  return tg::Shape(out);
}

tg::Shape Unflatten::input_shape_hint() const { return tg::Shape({-1, features_}); }

tg::Tensor Unflatten::forward(const tg::Tensor& x) {
  if (!x.defined()) throw tg::Error(str() + ": the input is undefined");
  const tg::Shape out = output_shape(x.shape());
  return tg::reshape(x, std::vector<int64_t>(out.begin(), out.end()));
}

tg::nn::Sequential build_cnn(int64_t classes, uint64_t seed) {
  namespace nn = tg::nn;
  tg::Generator gen(seed);
  // Two poolings halve 28 twice: 64 channels of 7 x 7 reach the first Linear.
  constexpr int64_t pooled = kCnnImageSide / 4;
  return nn::Sequential{Unflatten({1, kCnnImageSide, kCnnImageSide}),
                        nn::Conv2d(1, 32, 3, {.padding = 1, .generator = &gen}),
                        nn::ReLU(),
                        nn::MaxPool2d(2),
                        nn::Conv2d(32, 64, 3, {.padding = 1, .generator = &gen}),
                        nn::ReLU(),
                        nn::MaxPool2d(2),
                        nn::Flatten(),
                        nn::Linear(64 * pooled * pooled, 128, {.generator = &gen}),
                        nn::ReLU(),
                        nn::Linear(128, classes, {.generator = &gen})};
}

std::string describe_cnn(int64_t classes) { return "conv32-pool-conv64-pool-128-" + std::to_string(classes); }

}  // namespace tapegrad_train
