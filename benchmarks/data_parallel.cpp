// Question: what does data-parallel training cost on this machine, and what will it cost on a
// cluster? (1) The allreduce of one float32 message of 4 KB to 16 MB through tg::dist: the cost
// curve the speed-up model in docs/performance.md starts from. (2) One training step with the
// gradients averaged across ranks, for the 784-512-512-10 MLP (batch 256 per rank), the 784-50-10
// MLP (batch 100) and the Fashion-MNIST CNN (batch 64): steps/s, samples/s over all ranks, and the
// time of the average per step; the same step without the average gives the compute alone, and
// with a barrier before the average, the wait for the slower rank apart from the exchange.
//
// Run it under `mpirun -np N` (benchmarks/run.sh runs N = 1 and 2); rank 0 reports. Every
// benchmark has a fixed iteration count: Google Benchmark would otherwise pick counts from each
// rank's own timing, and ranks running different numbers of collectives deadlock.
#include <benchmark/benchmark.h>

#include "main.h"
#include "models.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace {
namespace tg = tapegrad;
namespace dist = tg::dist;
using Clock = std::chrono::steady_clock;

// QUICK runs (TG_BENCH_QUICK=1) take a tenth of the iterations: a smoke test, not a measurement.
int64_t iterations(int64_t n) {
  static const bool quick = std::getenv("TG_BENCH_QUICK") != nullptr;
  return std::max<int64_t>(quick ? n / 10 : n, 2);
}

void BM_allreduce(benchmark::State& s) {
  const int64_t bytes = s.range(0);
  tg::Tensor t = tg::full({bytes / 4}, 1.0f);
  dist::barrier();
  const auto t0 = Clock::now();
  for (auto _ : s) dist::all_reduce_sum(t);
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / double(s.iterations());
  const double ranks = dist::size();
  s.counters["ranks"] = ranks;
  s.counters["bytes"] = double(bytes);
  s.counters["us"] = us;
  s.counters["algbw_GBps"] = double(bytes) / (us * 1e3);
  // The bandwidth a ring allreduce needs from each link to reach this time (NCCL's bus bandwidth).
  s.counters["busbw_GBps"] = double(bytes) / (us * 1e3) * 2 * (ranks - 1) / std::max(ranks, 1.0);
}

struct Net {
  const char* name;
  int64_t batch;
  int64_t steps;  // per benchmark run
};
const Net kNets[] = {
    {"b_784_512_512_10_b256", 256, 300},
    {"a_784_50_10_b100", 100, 2000},
    {"cnn_b64", 64, 60},
};

tg::nn::Sequential make_net(size_t which) {
  if (which == 0) return bench::mlp({784, 512, 512, 10}, "relu");
  if (which == 1) return bench::mlp({784, 50, 10}, "relu");
  return bench::fashion_cnn();
}

// The step of tapegrad-train: forward compiled once and replayed, backward, the average, SGD.
void BM_dp_step(benchmark::State& s) {
  const size_t which = static_cast<size_t>(s.range(0));
  const bool average = s.range(1) != 0, split = s.range(1) == 2;
  const Net& net = kNets[which];
  tg::nn::Sequential model = make_net(which);
  dist::broadcast_state(model);
  tg::optim::SGD opt(model.parameters(), {.lr = 0.01});
  std::optional<dist::GradientAverager> averager;
  if (average) averager.emplace(model.parameters());
  tg::Tensor x = bench::fixed_input(net.batch, 784, tg::Dtype::f32, 1 + static_cast<uint64_t>(dist::rank()));
  if (which == 2) x = tg::reshape(x, {net.batch, 1, 28, 28});
  const std::vector<int64_t> lv = bench::fixed_labels(net.batch, 10);
  const tg::Tensor labels = tg::from_vector(std::vector<double>(lv.begin(), lv.end()), {net.batch});
  tg::Compiled forward = tg::compile(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(model(in[0]), in[1]); }, {x, labels});
  const std::vector<tg::Tensor> in{x, labels};
  double allreduce_s = 0, wait_s = 0;
  auto step = [&] {
    opt.zero_grad();
    forward(in).backward();
    if (averager) {
      if (split) {
        const auto w0 = Clock::now();
        dist::barrier();
        wait_s += std::chrono::duration<double>(Clock::now() - w0).count();
      }
      averager->average();
      allreduce_s += averager->last_seconds();
    }
    opt.step();
  };
  for (int i = 0; i < 5; ++i) step();  // steady state: caches filled, buffers pooled
  allreduce_s = wait_s = 0;
  dist::barrier();
  const auto t0 = Clock::now();
  for (auto _ : s) step();
  dist::barrier();  // the job's time: until its slowest rank is done (matters without the average)
  const double it = double(s.iterations());
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / it;
  const double ranks = dist::size();
  s.counters["ranks"] = ranks;
  s.counters["ms_per_step"] = ms;
  s.counters["steps_per_s"] = 1e3 / ms;
  s.counters["samples_per_s"] = ranks * double(net.batch) * 1e3 / ms;
  s.counters["allreduce_ms_per_step"] = allreduce_s * 1e3 / it;
  if (split) s.counters["wait_ms_per_step"] = wait_s * 1e3 / it;
  s.counters["gradient_bytes"] = averager ? double(averager->bytes()) : 0.0;
  s.SetLabel(std::string(net.name) + (!average ? " (no average: compute alone)"
                                      : split ? " (barrier, then average: the wait for the slower rank apart)"
                                              : ""));
}

void register_all() {
  for (int64_t bytes = 4 << 10; bytes <= 16 << 20; bytes *= 4)
    benchmark::RegisterBenchmark("BM_allreduce", BM_allreduce)
        ->Arg(bytes)
        ->Iterations(iterations(std::clamp<int64_t>((int64_t{256} << 20) / bytes, 50, 20000)))
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t average : {1, 0, 2})
      benchmark::RegisterBenchmark("BM_dp_step", BM_dp_step)
          ->Args({i, average})
          ->Iterations(iterations(kNets[i].steps))
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
}

// What the ranks other than 0 report: nothing (their figures are rank 0's, give or take the wait).
class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(&argc, &argv);
  if (!dist::is_main()) {  // rank 0 alone writes --benchmark_out
    int out = 1;
    for (int i = 1; i < argc; ++i)
      if (std::strncmp(argv[i], "--benchmark_out", 15) != 0) argv[out++] = argv[i];
    argc = out;
  }
  Silent silent;
  bench::MainOptions o;
  o.after_initialize = [](int) {
    register_all();
    if (dist::is_main()) benchmark::AddCustomContext("ranks", std::to_string(dist::size()));
  };
  if (!dist::is_main()) o.display = &silent;
  return bench::run_main(argc, argv, o);
}
