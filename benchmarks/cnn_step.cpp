// Question: how long does one float32 training step of the Fashion-MNIST CNN take (the net of
// `tapegrad-train --model cnn`: conv 1->32 3x3 pad 1, ReLU, max-pool 2, conv 32->64 3x3 pad 1,
// ReLU, max-pool 2, flatten, linear 3136->128, ReLU, linear 128->10; batch 64; SGD with momentum
// 0.9), against libtorch in this process, and what fraction of the FMA peak do its two
// convolutions reach, forward and backward? Also: does the step call malloc in the steady state?
#include <benchmark/benchmark.h>

#include "fma_peak.h"
#include "heap_counter.h"
#include "main.h"
#include "models.h"

#ifdef TAPEGRAD_BENCH_TORCH
#include <torch/torch.h>
#endif

#include <chrono>

namespace {
namespace tg = tapegrad;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBatch = 64;
constexpr double kLr = 0.05, kMomentum = 0.9;

// Multiply-adds x 2 of one step's convolutions and matrix products: forward, and dW and dX per
// layer (no dX for the first convolution, whose input is data).
double conv_flops(int64_t n, int64_t c, int64_t o, int64_t k, int64_t oh, int64_t ow) {
  return 2.0 * double(n) * double(o) * double(c * k * k) * double(oh * ow);
}
const double kConv1 = conv_flops(kBatch, 1, 32, 3, 28, 28), kConv2 = conv_flops(kBatch, 32, 64, 3, 14, 14);
const double kStepFlops = 2 * kConv1 + 3 * kConv2 + 3 * (2.0 * kBatch * 3136 * 128) + 3 * (2.0 * kBatch * 128 * 10);

double peak_gflops() {
  static const double peak = bench::measured_fma_peak(true, 1);
  return peak;
}

tg::Tensor images() { return tg::reshape(bench::fixed_input(kBatch, 784), {kBatch, 1, 28, 28}); }

double tapegrad_ms = 0;  // the last tapegrad step time, for the ratio

void report(benchmark::State& s, Clock::time_point t0, uint64_t heap0) {
  const double it = double(s.iterations());
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / it;
  s.counters["ms_per_step"] = ms;
  s.counters["GFLOPs"] = kStepFlops / (ms * 1e6);
  s.counters["pct_of_peak"] = 100 * kStepFlops / (ms * 1e6) / peak_gflops();
  s.counters["heap_calls_per_step"] = double(bench::heap_calls.load() - heap0) / it;
}

// `precision` bf16: the forward under tg::AutocastGuard (bfloat16 operands of the convolutions and
// products, float32 weights, gradients and update).
void cnn_step(benchmark::State& s, tg::Dtype precision) {
  tg::nn::Sequential model = bench::fashion_cnn();
  tg::optim::SGD opt(model.parameters(), {.lr = kLr, .momentum = kMomentum});
  const tg::Tensor x = images();
  const std::vector<int64_t> labels = bench::fixed_labels(kBatch, 10);
  auto step = [&] {
    opt.zero_grad();
    tg::Tensor loss;
    {
      tg::AutocastGuard autocast(precision);
      loss = tg::softmax_cross_entropy(model(x), labels);
    }
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // steady state: caches filled, JIT kernels made
  peak_gflops();
  const uint64_t sys0 = tg::memory_stats().system_allocations, heap0 = bench::heap_calls.load();
  const auto t0 = Clock::now();
  for (auto _ : s) step();
  report(s, t0, heap0);
  s.counters["tg_sys_allocs_per_step"] = double(tg::memory_stats().system_allocations - sys0) / double(s.iterations());
  if (precision == tg::Dtype::f32) {
    tapegrad_ms = s.counters["ms_per_step"];
  } else {
    if (tapegrad_ms > 0) s.counters["bf16_speedup"] = tapegrad_ms / s.counters["ms_per_step"];
    s.SetLabel("bf16 products: " + tg::bf16_path());
  }
}
void BM_cnn_step_tapegrad(benchmark::State& s) { cnn_step(s, tg::Dtype::f32); }
void BM_cnn_step_tapegrad_bf16(benchmark::State& s) { cnn_step(s, tg::Dtype::bf16); }

// conv2d forward and backward of the net's two layers alone, at their shapes in the step.
void BM_conv_layers_tapegrad(benchmark::State& s) {
  tg::Generator gen(1);
  const tg::Tensor x1 = images();
  const tg::Tensor x2 = tg::randn({kBatch, 32, 14, 14}, gen).requires_grad(true);
  const tg::Tensor w1 = tg::randn({32, 1, 3, 3}, gen).requires_grad(true), b1 = tg::zeros({32}).requires_grad(true);
  const tg::Tensor w2 = tg::randn({64, 32, 3, 3}, gen).requires_grad(true), b2 = tg::zeros({64}).requires_grad(true);
  const tg::Tensor g1 = tg::ones({kBatch, 32, 28, 28}), g2 = tg::ones({kBatch, 64, 14, 14});
  auto run = [&] {
    tg::conv2d(x1, w1, b1, {.padding = 1}).backward(g1);
    tg::conv2d(x2, w2, b2, {.padding = 1}).backward(g2);
  };
  for (int i = 0; i < 3; ++i) run();
  peak_gflops();
  const uint64_t heap0 = bench::heap_calls.load();
  const auto t0 = Clock::now();
  for (auto _ : s) run();
  const double it = double(s.iterations());
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / it;
  const double flops = 2 * kConv1 + 3 * kConv2;
  s.counters["ms"] = ms;
  s.counters["GFLOPs"] = flops / (ms * 1e6);
  s.counters["pct_of_peak"] = 100 * flops / (ms * 1e6) / peak_gflops();
  s.counters["heap_calls_per_step"] = double(bench::heap_calls.load() - heap0) / it;
}

#ifdef TAPEGRAD_BENCH_TORCH
void BM_cnn_step_libtorch(benchmark::State& s) {
  torch::manual_seed(0);
  namespace nn = torch::nn;
  nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Flatten(), nn::Linear(3136, 128), nn::ReLU(), nn::Linear(128, 10));
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(kLr).momentum(kMomentum));
  const tg::Tensor xt = bench::fixed_input(kBatch, 784);
  const torch::Tensor x =
      torch::from_blob(const_cast<float*>(xt.data<float>()), {kBatch, 1, 28, 28}, torch::kFloat32).clone();
  std::vector<int64_t> lv = bench::fixed_labels(kBatch, 10);
  const torch::Tensor labels = torch::from_blob(lv.data(), {kBatch}, torch::kInt64).clone();
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), labels);
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  peak_gflops();
  const uint64_t heap0 = bench::heap_calls.load();
  const auto t0 = Clock::now();
  for (auto _ : s) step();
  report(s, t0, heap0);
  if (tapegrad_ms > 0) s.counters["libtorch_over_tapegrad"] = s.counters["ms_per_step"] / tapegrad_ms;
}

// The same two convolutions in libtorch, whose CPU conv2d in float32 runs on oneDNN (Debian's
// build has it on): the figure for choosing between im2col + GEMM and oneDNN's primitives.
void BM_conv_layers_libtorch(benchmark::State& s) {
  torch::manual_seed(1);
  const torch::Tensor x1 = torch::randn({kBatch, 1, 28, 28});
  const torch::Tensor x2 = torch::randn({kBatch, 32, 14, 14}).requires_grad_(true);
  const torch::Tensor w1 = torch::randn({32, 1, 3, 3}).requires_grad_(true), b1 = torch::zeros({32}).requires_grad_(true);
  const torch::Tensor w2 = torch::randn({64, 32, 3, 3}).requires_grad_(true), b2 = torch::zeros({64}).requires_grad_(true);
  const torch::Tensor g1 = torch::ones({kBatch, 32, 28, 28}), g2 = torch::ones({kBatch, 64, 14, 14});
  auto run = [&] {
    torch::conv2d(x1, w1, b1, 1, 1).backward(g1);
    torch::conv2d(x2, w2, b2, 1, 1).backward(g2);
  };
  for (int i = 0; i < 3; ++i) run();
  peak_gflops();
  const auto t0 = Clock::now();
  for (auto _ : s) run();
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / double(s.iterations());
  const double flops = 2 * kConv1 + 3 * kConv2;
  s.counters["ms"] = ms;
  s.counters["GFLOPs"] = flops / (ms * 1e6);
  s.counters["pct_of_peak"] = 100 * flops / (ms * 1e6) / peak_gflops();
  s.SetLabel(at::globalContext().userEnabledMkldnn() ? "oneDNN (mkldnn) enabled" : "oneDNN disabled");
}
#endif

}  // namespace

BENCHMARK(BM_cnn_step_tapegrad)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_cnn_step_tapegrad_bf16)->Unit(benchmark::kMillisecond)->UseRealTime();
#ifdef TAPEGRAD_BENCH_TORCH
BENCHMARK(BM_cnn_step_libtorch)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
BENCHMARK(BM_conv_layers_tapegrad)->Unit(benchmark::kMillisecond)->UseRealTime();
#ifdef TAPEGRAD_BENCH_TORCH
BENCHMARK(BM_conv_layers_libtorch)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

int main(int argc, char** argv) {
  bench::MainOptions o;
  o.after_initialize = [](int) {
    benchmark::AddCustomContext("fma_peak_f32_1thread_GFLOPs", std::to_string(peak_gflops()));
  };
  return bench::run_main(argc, argv, o);
}
