// An embedding and a two-layer LSTM over a padded batch of token sequences of lengths 3 and 1,
// then truncated backpropagation through time: a long series cut into chunks, the state carried
// from chunk to chunk but detached, so that each backward() stops at its chunk's start.
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <cstdio>
#include <vector>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

int main() {
  tg::Generator gen(0);
  nn::Embedding emb(10, 4, {.padding_idx = 0, .generator = &gen});
  nn::LSTM lstm(4, 8, {.num_layers = 2, .batch_first = true, .generator = &gen});
  const tg::Tensor tokens = tg::tensor({{3, 1, 4}, {5, 0, 0}}, tg::Dtype::i64);  // [N = 2, T = 3]; 0 pads
  const tg::Tensor lengths = tg::tensor({3, 1}, tg::Dtype::i64);
  auto [packed, state] = lstm(nn::pack_padded_sequence(emb(tokens), lengths, /*batch_first=*/true));
  const tg::Tensor out = nn::pad_packed_sequence(packed, /*batch_first=*/true);
  std::printf("outputs %s, h %s, c %s\n", out.shape().str().c_str(), state.h.shape().str().c_str(),
              state.c.shape().str().c_str());
  std::printf("sequence 1 after its end: %g %g\n", out.at({1, 1, 0}), out.at({1, 2, 7}));
  std::printf("its final h is its output at its last step: %s\n",
              state.h.at({1, 1, 3}) == out.at({1, 0, 3}) ? "yes" : "no");

  // Truncated BPTT: predict the next value of a sine wave, 4 chunks of 10 steps per epoch.
  nn::LSTM model(1, 8, {.batch_first = true, .dtype = tg::Dtype::f64, .generator = &gen});
  nn::Linear head(8, 1, {.dtype = tg::Dtype::f64, .generator = &gen});
  std::vector<tg::Tensor> params = model.parameters();
  for (const tg::Tensor& p : head.parameters()) params.push_back(p);
  tg::optim::Adam opt(params, {.lr = 0.02});
  std::vector<double> wave(41);
  for (size_t k = 0; k < wave.size(); ++k) wave[k] = std::sin(0.3 * static_cast<double>(k));
  const tg::Tensor series = tg::from_vector(wave, {1, 41, 1}, tg::Dtype::f64);
  for (int epoch = 0; epoch < 30; ++epoch) {
    nn::LSTMState carried;  // zeros at the start of the series
    double total = 0;
    for (int64_t k = 0; k < 4; ++k) {
      const tg::Tensor x = tg::slice(series, 1, 10 * k, 10 * k + 10);
      const tg::Tensor target = tg::slice(series, 1, 10 * k + 1, 10 * k + 11);
      auto [y, s] = model(x, carried);
      const tg::Tensor loss = tg::mse_loss(head(y), target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      carried = {s.h.detach(), s.c.detach()};  // the next chunk starts here, but its gradient stops here
      total += loss.item();
    }
    if (epoch % 10 == 9) std::printf("epoch %2d: mean loss %.4f\n", epoch + 1, total / 4);
  }
}
