#include "cnn.h"

namespace tg = tapegrad;

namespace tapegrad_train {

tg::nn::Sequential build_cnn(int64_t classes, uint64_t seed) {
  namespace nn = tg::nn;
  tg::Generator gen(seed);
  // Two poolings halve 28 twice: 64 channels of 7 x 7 reach the first Linear.
  constexpr int64_t pooled = kCnnImageSide / 4;
  return nn::Sequential{nn::Unflatten(1, {1, kCnnImageSide, kCnnImageSide}),
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
