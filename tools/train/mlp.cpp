#include "mlp.h"

#include <stdexcept>

#include "options.h"

namespace tg = tapegrad;

namespace tapegrad_train {

tg::nn::Sequential build_mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes, uint64_t seed) {
  tg::Generator gen(seed);
  tg::nn::Sequential net;
  int64_t width = inputs;
  for (int64_t h : hidden) {
    net.push_back(tg::nn::Linear(width, h, {.generator = &gen}));
    net.push_back(tg::nn::ReLU());
    width = h;
  }
  net.push_back(tg::nn::Linear(width, classes, {.generator = &gen}));
  return net;
}

std::string describe_mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes) {
  // Appended piece by piece: GCC 12 misreads `s += "-" + std::to_string(h)` (-Wrestrict, bug 105651).
  std::string s = std::to_string(inputs);
  for (int64_t h : hidden) {
    s += '-';
    s += std::to_string(h);
  }
  s += '-';
  s += std::to_string(classes);
  return s;
}

std::unique_ptr<tg::optim::Optimizer> make_optimizer(const std::string& name, std::vector<tg::Tensor> params,
                                                     double lr) {
  namespace optim = tg::optim;
  if (name == "sgd") return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = lr});
  if (name == "momentum")
    return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = lr, .momentum = 0.9});
  if (name == "adam") return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = lr});
  if (name == "adamw") return std::make_unique<optim::AdamW>(std::move(params), optim::AdamWOptions{.lr = lr});
  if (name == "adagrad") return std::make_unique<optim::Adagrad>(std::move(params), optim::AdagradOptions{.lr = lr});
  if (name == "rmsprop") return std::make_unique<optim::RMSprop>(std::move(params), optim::RMSpropOptions{.lr = lr});
  throw std::invalid_argument("unknown optimizer '" + name + "' (expected " + optimizer_names() + ")");
}

}  // namespace tapegrad_train
