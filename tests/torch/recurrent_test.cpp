// The recurrent layers against libtorch's, in float64 and in the same process: RNN (tanh and
// relu), LSTM and GRU, one and two layers, one and two directions, with and without per-sequence
// lengths. tapegrad's parameters are copied into torch's module by name (the names and shapes
// are PyTorch's), and the outputs, the final states and every gradient must agree to 1e-9
// normwise.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tapegrad/tapegrad.h>
#include <vector>

namespace tg = tapegrad;

namespace {

torch::Tensor to_torch64(const tg::Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  std::vector<int64_t> shape = t.shape().vec();
  return torch::from_blob(const_cast<double*>(v.data()), shape, torch::kFloat64).clone();
}

std::vector<double> values(const torch::Tensor& t) {
  torch::Tensor c = t.detach().contiguous().to(torch::kFloat64);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// ||a - b|| / max(||b||, 1e-300).
double normwise(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    n += b[i] * b[i];
  }
  return std::sqrt(d) / std::max(std::sqrt(n), 1e-300);
}

enum class Kind { rnn_tanh, rnn_relu, lstm, gru };

struct Config {
  Kind kind;
  int64_t layers;
  bool bidirectional;
  bool lengths;
};

std::string name_of(const Config& c) {
  const char* k[] = {"RNN(tanh)", "RNN(relu)", "LSTM", "GRU"};
  return std::string(k[static_cast<int>(c.kind)]) + " layers=" + std::to_string(c.layers) +
         (c.bidirectional ? " bidirectional" : "") + (c.lengths ? " with lengths" : "");
}

void compare(const Config& cfg) {
  SCOPED_TRACE(name_of(cfg));
  constexpr int64_t N = 3, T = 5, I = 4, H = 3;
  tg::Generator gen(7);
  tg::nn::RNNOptions o{.num_layers = cfg.layers,
                       .nonlinearity = cfg.kind == Kind::rnn_relu ? "relu" : "tanh",
                       .batch_first = true,
                       .bidirectional = cfg.bidirectional,
                       .dtype = tg::Dtype::f64,
                       .generator = &gen};
  const int64_t D = cfg.bidirectional ? 2 : 1;
  const tg::Tensor x = tg::randn({N, T, I}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor h0 = tg::randn({cfg.layers * D, N, H}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor c0 = tg::randn({cfg.layers * D, N, H}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor lengths = tg::tensor({5, 2, 4}, tg::Dtype::i64);
  // The loss weighs every output and state element differently, so that no gradient is symmetric.
  const tg::Tensor wo = tg::randn({N, T, D * H}, gen, tg::Dtype::f64);
  const tg::Tensor wh = tg::randn({cfg.layers * D, N, H}, gen, tg::Dtype::f64);

  std::unique_ptr<tg::nn::RecurrentBase> layer;
  tg::Tensor out, h, c;
  if (cfg.kind == Kind::lstm) {
    auto* l = new tg::nn::LSTM(I, H, o);
    layer.reset(l);
    if (cfg.lengths) {
      auto [p, s] = (*l)(tg::nn::pack_padded_sequence(x, lengths, true), {h0, c0});
      out = tg::nn::pad_packed_sequence(p, true);
      h = s.h;
      c = s.c;
    } else {
      auto [y, s] = (*l)(x, {h0, c0});
      out = y;
      h = s.h;
      c = s.c;
    }
  } else {
    // RNN and GRU: the same calls, h alone for a state.
    auto run = [&](auto* l) {
      layer.reset(l);
      if (cfg.lengths) {
        auto [p, s] = (*l)(tg::nn::pack_padded_sequence(x, lengths, true), h0);
        out = tg::nn::pad_packed_sequence(p, true);
        h = s;
      } else {
        std::tie(out, h) = (*l)(x, h0);
      }
    };
    if (cfg.kind == Kind::gru) run(new tg::nn::GRU(I, H, o));
    else run(new tg::nn::RNN(I, H, o));
  }
  tg::Tensor loss = tg::sum(out * wo) + tg::sum(h * wh);
  if (c.defined()) loss = loss + tg::sum(c * wh);
  loss.backward();

  // libtorch's module with tapegrad's parameters.
  std::shared_ptr<torch::nn::Module> tm;
  if (cfg.kind == Kind::lstm)
    tm = torch::nn::LSTM(torch::nn::LSTMOptions(I, H).num_layers(cfg.layers).batch_first(true).bidirectional(cfg.bidirectional))
             .ptr();
  else if (cfg.kind == Kind::gru)
    tm = torch::nn::GRU(torch::nn::GRUOptions(I, H).num_layers(cfg.layers).batch_first(true).bidirectional(cfg.bidirectional))
             .ptr();
  else
    tm = torch::nn::RNN(torch::nn::RNNOptions(I, H)
                            .num_layers(cfg.layers)
                            .nonlinearity(cfg.kind == Kind::rnn_relu ? torch::nn::RNNOptions::nonlinearity_t(torch::kReLU)
                                                                      : torch::nn::RNNOptions::nonlinearity_t(torch::kTanh))
                            .batch_first(true)
                            .bidirectional(cfg.bidirectional))
             .ptr();
  tm->to(torch::kFloat64);
  const tg::NamedTensors mine = layer->named_parameters();
  auto theirs = tm->named_parameters();
  ASSERT_EQ(theirs.size(), mine.size());
  for (const auto& [name, t] : mine) {
    ASSERT_TRUE(theirs.contains(name)) << name;
    ASSERT_EQ(theirs[name].sizes().vec(), t.shape().vec()) << name;
    torch::NoGradGuard no_grad;
    theirs[name].copy_(to_torch64(t));
  }
  torch::Tensor tx = to_torch64(x).requires_grad_(true), th0 = to_torch64(h0).requires_grad_(true),
                tc0 = to_torch64(c0).requires_grad_(true);
  torch::Tensor twh = to_torch64(wh), two = to_torch64(wo);
  torch::Tensor tout, th, tc;
  const torch::nn::utils::rnn::PackedSequence packed =
      torch::nn::utils::rnn::pack_padded_sequence(tx, torch::tensor({5, 2, 4}, torch::kInt64), true, false);
  if (cfg.kind == Kind::lstm) {
    auto* m = dynamic_cast<torch::nn::LSTMImpl*>(tm.get());
    if (cfg.lengths) {
      auto [p, s] = m->forward_with_packed_input(packed, std::make_tuple(th0, tc0));
      tout = std::get<0>(torch::nn::utils::rnn::pad_packed_sequence(p, true, 0.0, T));
      th = std::get<0>(s);
      tc = std::get<1>(s);
    } else {
      auto [y, s] = m->forward(tx, std::make_tuple(th0, tc0));
      tout = y;
      th = std::get<0>(s);
      tc = std::get<1>(s);
    }
  } else {
    auto run = [&](auto* m) {
      if (cfg.lengths) {
        auto [p, s] = m->forward_with_packed_input(packed, th0);
        tout = std::get<0>(torch::nn::utils::rnn::pad_packed_sequence(p, true, 0.0, T));
        th = s;
      } else {
        std::tie(tout, th) = m->forward(tx, th0);
      }
    };
    if (cfg.kind == Kind::gru) run(dynamic_cast<torch::nn::GRUImpl*>(tm.get()));
    else run(dynamic_cast<torch::nn::RNNImpl*>(tm.get()));
  }
  torch::Tensor tloss = (tout * two).sum() + (th * twh).sum();
  if (tc.defined()) tloss = tloss + (tc * twh).sum();
  tloss.backward();

  constexpr double tol = 1e-9;
  EXPECT_LT(normwise(out.to_vector<double>(), values(tout)), tol) << "outputs";
  EXPECT_LT(normwise(h.to_vector<double>(), values(th)), tol) << "final h";
  if (c.defined()) {
    EXPECT_LT(normwise(c.to_vector<double>(), values(tc)), tol) << "final c";
    EXPECT_LT(normwise(c0.grad().to_vector<double>(), values(tc0.grad())), tol) << "gradient of c0";
  }
  EXPECT_LT(normwise(x.grad().to_vector<double>(), values(tx.grad())), tol) << "gradient of x";
  EXPECT_LT(normwise(h0.grad().to_vector<double>(), values(th0.grad())), tol) << "gradient of h0";
  for (const auto& [name, t] : mine)
    EXPECT_LT(normwise(t.grad().to_vector<double>(), values(theirs[name].grad())), tol) << "gradient of " << name;
}

}  // namespace

TEST(TorchRecurrent, RnnLstmGruAgreeWithLibtorchInFloat64) {
  for (Kind kind : {Kind::rnn_tanh, Kind::rnn_relu, Kind::lstm, Kind::gru})
    for (int64_t layers : {1, 2})
      for (bool bidirectional : {false, true})
        for (bool lengths : {false, true}) compare({kind, layers, bidirectional, lengths});
}
