// The vanishing gradient, measured at initialisation (float64). (1) A 10-layer MLP: the norm of
// the loss's gradient with respect to each layer's weight, sigmoid against ReLU. (2) The adding
// problem at 100 steps: the norm of the gradient with respect to each step's input, a tanh RNN
// against an LSTM as PyTorch initialises it (its forget gate near 0.5) and one whose forget gate's
// bias starts at 3 (the gate near 0.95). With a directory argument, also writes vanishing_mlp.dat and vanishing_rnn.dat
// (plotted by tools/docs/vanishing.gp).
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

constexpr tg::Dtype f64 = tg::Dtype::f64;

// Per-layer weight gradient norms of a 10-layer MLP of width 32 with the activation `act`.
std::vector<double> mlp_norms(bool sigmoid) {
  tg::Generator gen(1);
  nn::Sequential net;
  std::vector<tg::Tensor> weights;
  for (int layer = 0; layer < 10; ++layer) {
    nn::Linear lin(32, 32, {.dtype = f64, .generator = &gen});
    weights.push_back(lin.weight());
    net.push_back(lin);
    if (sigmoid) net.push_back(nn::Sigmoid());
    else net.push_back(nn::ReLU());
  }
  const tg::Tensor x = tg::randn({64, 32}, gen, f64);
  const tg::Tensor loss = tg::mean(tg::square(net(x) - 1.0));
  return tg::gradient_norms(loss, weights);
}

// Per-step input gradient norms on one batch of the adding problem (Hochreiter & Schmidhuber
// 1997): two of T random values are marked; the target is their sum, read from the last step.
template <class Layer>
std::vector<double> rnn_norms(Layer& layer, nn::Linear& head, int64_t T) {
  tg::Generator gen(2);
  const int64_t N = 32;
  std::vector<double> xv(static_cast<size_t>(N * T * 2), 0.0), yv(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const auto first = static_cast<int64_t>(gen.uniform() * double(T / 2));
    const auto second = T / 2 + static_cast<int64_t>(gen.uniform() * double(T / 2));
    for (int64_t t = 0; t < T; ++t) {
      const double v = gen.uniform();
      xv[static_cast<size_t>((n * T + t) * 2)] = v;
      if (t == first || t == second) {
        xv[static_cast<size_t>((n * T + t) * 2 + 1)] = 1;
        yv[static_cast<size_t>(n)] += v;
      }
    }
  }
  const tg::Tensor x = tg::from_vector(xv, {N, T, 2}, f64).requires_grad(true);
  const tg::Tensor y = tg::from_vector(yv, {N, 1}, f64);
  auto [out, state] = layer(x);
  const tg::Tensor loss = tg::mse_loss(head(tg::select(out, 1, -1)), y);
  return tg::gradient_norms_along(loss, x, 1);
}

int main(int argc, char** argv) {
  const std::vector<double> sig = mlp_norms(true), relu = mlp_norms(false);
  std::printf("layer  |dL/dW| sigmoid  |dL/dW| ReLU\n");
  for (size_t l : {0, 3, 6, 9}) std::printf("%5zu  %15.2e  %12.2e\n", l + 1, sig[l], relu[l]);

  constexpr int64_t T = 100;
  tg::Generator gen(3);
  nn::RNN rnn(2, 32, {.batch_first = true, .dtype = f64, .generator = &gen});
  nn::LSTM lstm(2, 32, {.batch_first = true, .dtype = f64, .generator = &gen});
  nn::LSTM open(2, 32, {.batch_first = true, .dtype = f64, .generator = &gen});
  double* bias_ih = open.named_parameters()[2].second.data<double>();  // gates i, f, g, o of 32 each
  for (int j = 32; j < 64; ++j) bias_ih[j] += 3.0;
  nn::Linear head_rnn(32, 1, {.dtype = f64, .generator = &gen}), head_lstm(32, 1, {.dtype = f64, .generator = &gen});
  nn::Linear head_open(32, 1, {.dtype = f64, .generator = &gen});
  const std::vector<double> r = rnn_norms(rnn, head_rnn, T), l = rnn_norms(lstm, head_lstm, T),
                            o = rnn_norms(open, head_open, T);
  std::printf("\n100 steps, the loss at the last: |dL/dx_t| for\n");
  std::printf("step  tanh RNN   LSTM      LSTM, forget bias 3\n");
  for (int64_t t : {99, 90, 75, 50, 0}) {
    const auto k = static_cast<size_t>(t);
    std::printf("%4ld  %.2e  %.2e  %.2e\n", static_cast<long>(t), r[k], l[k], o[k]);
  }

  if (argc > 1) {
    std::ofstream mlp(std::string(argv[1]) + "/vanishing_mlp.dat");
    mlp << "layer sigmoid ReLU\n";
    for (size_t k = 0; k < sig.size(); ++k) mlp << k + 1 << " " << sig[k] << " " << relu[k] << "\n";
    std::ofstream seq(std::string(argv[1]) + "/vanishing_rnn.dat");
    seq << "steps-back tanh-RNN LSTM LSTM,forget-bias-3\n";
    for (int64_t t = T - 1; t >= 0; --t) {
      const auto k = static_cast<size_t>(t);
      seq << (T - 1 - t) << " " << r[k] << " " << l[k] << " " << o[k] << "\n";
    }
  }
}
