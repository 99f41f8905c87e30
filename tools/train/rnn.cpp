#include "rnn.h"

#include "cnn.h"

namespace tg = tapegrad;

namespace tapegrad_train {

tg::nn::Sequential build_recurrent(const std::string& model, int64_t classes, uint64_t seed) {
  namespace nn = tg::nn;
  tg::Generator gen(seed);
  const nn::RNNOptions options{.batch_first = true, .generator = &gen};
  nn::Sequential net{nn::Unflatten(1, {kCnnImageSide, kCnnImageSide})};
  if (model == "lstm") net.push_back(nn::LSTM(kCnnImageSide, kRnnHidden, options));
  else net.push_back(nn::GRU(kCnnImageSide, kRnnHidden, options));
  net.push_back(nn::Select(1, -1));
  net.push_back(nn::Linear(kRnnHidden, classes, {.generator = &gen}));
  return net;
}

std::string describe_recurrent(const std::string& model, int64_t classes) {
  return "rows" + std::to_string(kCnnImageSide) + "-" + model + std::to_string(kRnnHidden) + "-" +
         std::to_string(classes);
}

}  // namespace tapegrad_train
