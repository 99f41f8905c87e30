// Question: how long does one float32 forward + backward of nn::LSTM(28, 128) take over a batch
// of 64 sequences of 28 steps (the recurrent layer of `tapegrad-train --model lstm`), with one
// and two layers, against libtorch's torch::nn::LSTM in this process? And the whole training
// step of that model (LSTM, its last step, Linear(128, 10), Adam)?
#include <benchmark/benchmark.h>

#include "heap_counter.h"
#include "main.h"
#include "models.h"

#ifdef TAPEGRAD_BENCH_TORCH
#include <torch/torch.h>
#endif

#include <chrono>
#include <map>

namespace {
namespace tg = tapegrad;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBatch = 64, kSteps = 28, kInput = 28, kHidden = 128;

std::map<int64_t, double> tapegrad_ms;  // by layer count, for the ratio

void report(benchmark::State& s, Clock::time_point t0, uint64_t heap0) {
  const double it = double(s.iterations());
  s.counters["ms_per_step"] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / it;
  s.counters["heap_calls_per_step"] = double(bench::heap_calls.load() - heap0) / it;
}

// [N, T, F] sequences: the Fashion-MNIST-like rows of bench::fixed_input, read row by row.
tg::Tensor sequences() { return tg::reshape(bench::fixed_input(kBatch, kSteps * kInput), {kBatch, kSteps, kInput}); }

void BM_lstm_tapegrad(benchmark::State& s) {
  const int64_t layers = s.range(0);
  tg::Generator gen(1);
  tg::nn::LSTM lstm(kInput, kHidden, {.num_layers = layers, .batch_first = true, .generator = &gen});
  const tg::Tensor x = sequences();
  const tg::Tensor g = tg::ones({kBatch, kSteps, kHidden});
  auto run = [&] {
    auto [out, state] = lstm(x);
    out.backward(g);
  };
  for (int i = 0; i < 3; ++i) run();
  const uint64_t heap0 = bench::heap_calls.load();
  const auto t0 = Clock::now();
  for (auto _ : s) run();
  report(s, t0, heap0);
  tapegrad_ms[layers] = s.counters["ms_per_step"];
}

// The whole step of `tapegrad-train --model lstm`, compiled as the tool runs it.
void BM_lstm_train_step_tapegrad(benchmark::State& s) {
  tg::Generator gen(1);
  tg::nn::Sequential model{tg::nn::LSTM(kInput, kHidden, {.batch_first = true, .generator = &gen}),
                           tg::nn::Select(1, -1), tg::nn::Linear(kHidden, 10, {.generator = &gen})};
  tg::optim::Adam opt(model.parameters(), {.lr = 1e-3});
  const tg::Tensor x = sequences();
  const tg::Tensor labels = tg::from_vector(bench::fixed_labels(kBatch, 10), {kBatch});
  tg::CompiledStep step = tg::compile_step(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(model(in[0]), in[1]); }, {x, labels}, opt);
  for (int i = 0; i < 3; ++i) step({x, labels});
  const uint64_t heap0 = bench::heap_calls.load();
  const auto t0 = Clock::now();
  for (auto _ : s) step({x, labels});
  report(s, t0, heap0);
  tapegrad_ms[0] = s.counters["ms_per_step"];
}

#ifdef TAPEGRAD_BENCH_TORCH
torch::Tensor torch_sequences() {
  const tg::Tensor xt = bench::fixed_input(kBatch, kSteps * kInput);
  return torch::from_blob(const_cast<float*>(xt.data<float>()), {kBatch, kSteps, kInput}, torch::kFloat32).clone();
}

void BM_lstm_libtorch(benchmark::State& s) {
  const int64_t layers = s.range(0);
  torch::manual_seed(1);
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(kInput, kHidden).num_layers(layers).batch_first(true));
  const torch::Tensor x = torch_sequences();
  const torch::Tensor g = torch::ones({kBatch, kSteps, kHidden});
  auto run = [&] {
    auto out = std::get<0>(lstm->forward(x));
    out.backward(g);
  };
  for (int i = 0; i < 3; ++i) run();
  const uint64_t heap0 = bench::heap_calls.load();
  const auto t0 = Clock::now();
  for (auto _ : s) run();
  report(s, t0, heap0);
  if (tapegrad_ms.count(layers)) s.counters["libtorch_over_tapegrad"] = s.counters["ms_per_step"] / tapegrad_ms[layers];
}

void BM_lstm_train_step_libtorch(benchmark::State& s) {
  torch::manual_seed(1);
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(kInput, kHidden).batch_first(true));
  torch::nn::Linear head(kHidden, 10);
  std::vector<torch::Tensor> params = lstm->parameters();
  for (const torch::Tensor& p : head->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  const torch::Tensor x = torch_sequences();
  std::vector<int64_t> lv = bench::fixed_labels(kBatch, 10);
  const torch::Tensor labels = torch::from_blob(lv.data(), {kBatch}, torch::kInt64).clone();
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor out = std::get<0>(lstm->forward(x)).select(1, -1);
    torch::nn::functional::cross_entropy(head->forward(out), labels).backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  const uint64_t heap0 = bench::heap_calls.load();
  const auto t0 = Clock::now();
  for (auto _ : s) step();
  report(s, t0, heap0);
  if (tapegrad_ms.count(0)) s.counters["libtorch_over_tapegrad"] = s.counters["ms_per_step"] / tapegrad_ms[0];
}
#endif

}  // namespace

BENCHMARK(BM_lstm_tapegrad)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
#ifdef TAPEGRAD_BENCH_TORCH
BENCHMARK(BM_lstm_libtorch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
BENCHMARK(BM_lstm_train_step_tapegrad)->Unit(benchmark::kMillisecond)->UseRealTime();
#ifdef TAPEGRAD_BENCH_TORCH
BENCHMARK(BM_lstm_train_step_libtorch)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

int main(int argc, char** argv) { return bench::run_main(argc, argv); }
