// Question: what does recording and replaying one node cost? A chain of 1,000 alternating add
// and mul ops on one-element float32 tensors, and the Rosenbrock function of 1,000 variables
// written element by element (about 8,000 scalar nodes), forward + backward, in ns per node,
// with heap calls per iteration in the steady state; the same work in libtorch in this process,
// and the chain in ADOL-C (its tape re-recorded each time, and its kept tape replayed).
#include <benchmark/benchmark.h>

#include "heap_counter.h"
#include "main.h"
#include "models.h"

#ifdef TAPEGRAD_BENCH_TORCH
#include <torch/torch.h>
#endif
#ifdef TAPEGRAD_BENCH_ADOLC
#include <adolc/adolc.h>
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace {
namespace tg = tapegrad;

constexpr int kChainOps = 1000;
// The chain's input and constants: y = x, then y = (y + c) * d, kChainOps / 2 times.
constexpr double kChainX = 0.5, kChainC = 1e-3, kChainD = 0.999;
constexpr int kRosenVars = 1000;
// tapegrad's last measured ns per node, by task, for the tapegrad/<other library> ratio counter.
std::map<std::string, double> tapegrad_ns;
using Clock = std::chrono::steady_clock;

// Steady-state counters over the timed loop: tapegrad's system allocations and all heap calls.
struct HeapDelta {
  uint64_t sys0 = tg::memory_stats().system_allocations;
  uint64_t heap0 = bench::heap_calls.load();
  void report(benchmark::State& s) {
    const double it = double(s.iterations());
    s.counters["tg_sys_allocs_per_iter"] = double(tg::memory_stats().system_allocations - sys0) / it;
    s.counters["heap_calls_per_iter"] = double(bench::heap_calls.load() - heap0) / it;
  }
};

// Counters: nodes per iteration, ns per node, and for another library tapegrad's time over its own
// (tapegrad_over_libtorch, tapegrad_over_adolc).
void finish(benchmark::State& s, Clock::time_point t0, const std::string& task, const std::string& lib,
            double nodes) {
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  const double per_node = ns / (nodes * double(s.iterations()));
  s.counters["nodes"] = nodes;
  s.counters["ns_per_node"] = per_node;
  if (lib == "tapegrad") tapegrad_ns[task] = per_node;
  else if (tapegrad_ns.count(task)) s.counters["tapegrad_over_" + lib] = tapegrad_ns[task] / per_node;
}

void tg_chain_once(const tg::Tensor& x, const tg::Tensor& c, const tg::Tensor& d) {
  tg::Tensor y = x;
  for (int i = 0; i < kChainOps / 2; ++i) {
    y = tg::add(y, c);
    y = tg::mul(y, d);
  }
  y.backward();
}

void BM_chain_tapegrad(benchmark::State& s) {
  tg::Tensor x = tg::full({1}, kChainX).requires_grad(true);
  tg::Tensor c = tg::full({1}, kChainC), d = tg::full({1}, kChainD);
  for (int i = 0; i < 3; ++i) tg_chain_once(x, c, d);  // warm the caches
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) tg_chain_once(x, c, d);
  h.report(s);
  finish(s, t0, "chain", "tapegrad", kChainOps);
}

// The same chain compiled once (tg::compile) and replayed: forward and backward without
// recording a node.
void BM_chain_tapegrad_compiled(benchmark::State& s) {
  tg::Tensor x = tg::full({1}, kChainX).requires_grad(true);
  tg::Tensor c = tg::full({1}, kChainC), d = tg::full({1}, kChainD);
  tg::Compiled step = tg::compile(
      [&](const std::vector<tg::Tensor>& in) {
        tg::Tensor y = in[0];
        for (int i = 0; i < kChainOps / 2; ++i) {
          y = tg::add(y, c);
          y = tg::mul(y, d);
        }
        return y;
      },
      {x});
  const std::vector<tg::Tensor> in{x};
  for (int i = 0; i < 3; ++i) step(in).backward();
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) step(in).backward();
  h.report(s);
  finish(s, t0, "chain_compiled", "tapegrad", kChainOps);
}

// The same chain with anomaly mode on: every node's output and every gradient checked for NaN
// and infinity. (Off is BM_chain_tapegrad: the recording path then tests one thread-local flag.)
void BM_chain_tapegrad_anomaly(benchmark::State& s) {
  tg::AnomalyGuard anomaly;
  tg::Tensor x = tg::full({1}, kChainX).requires_grad(true);
  tg::Tensor c = tg::full({1}, kChainC), d = tg::full({1}, kChainD);
  for (int i = 0; i < 3; ++i) tg_chain_once(x, c, d);
  const auto t0 = Clock::now();
  for (auto _ : s) tg_chain_once(x, c, d);
  finish(s, t0, "chain_anomaly", "tapegrad", kChainOps);
}

// Rosenbrock: sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, one one-element tensor per x[i].
int tg_rosenbrock_once(const std::vector<tg::Tensor>& x) {
  tg::Tensor f = tg::zeros({1});
  for (int i = 0; i + 1 < kRosenVars; ++i) {
    tg::Tensor a = x[i + 1] - x[i] * x[i];
    tg::Tensor b = 1.0 - x[i];
    f = f + 100.0 * (a * a) + b * b;
  }
  f.backward();
  return 8 * (kRosenVars - 1);  // mul, sub, mul, scalar mul, rsub, mul, add, add per term
}

void BM_rosenbrock_tapegrad(benchmark::State& s) {
  std::vector<tg::Tensor> x;
  for (int i = 0; i < kRosenVars; ++i) x.push_back(tg::full({1}, 0.5 + 1e-4 * i).requires_grad(true));
  int nodes = 0;
  for (int i = 0; i < 3; ++i) nodes = tg_rosenbrock_once(x);
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) tg_rosenbrock_once(x);
  h.report(s);
  finish(s, t0, "rosenbrock", "tapegrad", nodes);
}

void BM_rosenbrock_tapegrad_compiled(benchmark::State& s) {
  std::vector<tg::Tensor> x;
  for (int i = 0; i < kRosenVars; ++i) x.push_back(tg::full({1}, 0.5 + 1e-4 * i).requires_grad(true));
  tg::Compiled step = tg::compile(
      [](const std::vector<tg::Tensor>& v) {
        tg::Tensor f = tg::zeros({1});
        for (int i = 0; i + 1 < kRosenVars; ++i) {
          tg::Tensor a = v[i + 1] - v[i] * v[i];
          tg::Tensor b = 1.0 - v[i];
          f = f + 100.0 * (a * a) + b * b;
        }
        return f;
      },
      x);
  for (int i = 0; i < 3; ++i) step(x).backward();
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) step(x).backward();
  h.report(s);
  finish(s, t0, "rosenbrock_compiled", "tapegrad", 8 * (kRosenVars - 1));
}

#ifdef TAPEGRAD_BENCH_TORCH
void torch_chain_once(const torch::Tensor& x, const torch::Tensor& c, const torch::Tensor& d) {
  torch::Tensor y = x;
  for (int i = 0; i < kChainOps / 2; ++i) {
    y = torch::add(y, c);
    y = torch::mul(y, d);
  }
  y.backward();
}

void BM_chain_libtorch(benchmark::State& s) {
  torch::Tensor x = torch::full({1}, kChainX).requires_grad_(true);
  torch::Tensor c = torch::full({1}, kChainC), d = torch::full({1}, kChainD);
  for (int i = 0; i < 3; ++i) torch_chain_once(x, c, d);
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) torch_chain_once(x, c, d);
  h.report(s);
  finish(s, t0, "chain", "libtorch", kChainOps);
}

void torch_rosenbrock_once(const std::vector<torch::Tensor>& x) {
  torch::Tensor f = torch::zeros({1});
  for (int i = 0; i + 1 < kRosenVars; ++i) {
    torch::Tensor a = x[i + 1] - x[i] * x[i];
    torch::Tensor b = 1.0 - x[i];
    f = f + 100.0 * (a * a) + b * b;
  }
  f.backward();
}

void BM_rosenbrock_libtorch(benchmark::State& s) {
  std::vector<torch::Tensor> x;
  for (int i = 0; i < kRosenVars; ++i) x.push_back(torch::full({1}, 0.5 + 1e-4 * i).requires_grad_(true));
  for (int i = 0; i < 3; ++i) torch_rosenbrock_once(x);
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) torch_rosenbrock_once(x);
  h.report(s);
  finish(s, t0, "rosenbrock", "libtorch", 8 * (kRosenVars - 1));
}
#endif

#ifdef TAPEGRAD_BENCH_ADOLC
// ADOL-C on tapegrad's chain: the same 500 add/mul pairs with the same constants, on one adouble.
// ADOL-C computes in double, tapegrad's chain in float32. Its tape lives in ADOL-C's buffers,
// named by a tag.
constexpr short kAdolcRetapeTag = 1, kAdolcReplayTag = 2;

// Records the chain on `tag` at x (trace_on ... trace_off).
void adolc_record_chain(short tag, double x) {
  double y = 0;
  trace_on(tag);
  adouble ax;
  ax <<= x;
  adouble ay = ax;
  for (int i = 0; i < kChainOps / 2; ++i) {
    ay = ay + kChainC;
    ay = ay * kChainD;
  }
  ay >>= y;
  trace_off();
}

// ADOL-C's counterpart of eager recording: every iteration tapes the chain anew, then gradient()
// (a forward sweep and a reverse sweep over that tape).
void BM_chain_adolc_retape(benchmark::State& s) {
  double x = kChainX, g = 0;
  for (int i = 0; i < 3; ++i) {
    adolc_record_chain(kAdolcRetapeTag, x);
    gradient(kAdolcRetapeTag, 1, &x, &g);
  }
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) {
    adolc_record_chain(kAdolcRetapeTag, x);
    gradient(kAdolcRetapeTag, 1, &x, &g);
    benchmark::DoNotOptimize(g);
  }
  h.report(s);
  finish(s, t0, "chain", "adolc", kChainOps);
}

// ADOL-C's counterpart of a compiled step: the chain taped once, then gradient() on the kept tape
// (zos_forward + fos_reverse), which is what ADOL-C's interpreter costs per op.
void BM_chain_adolc_replay(benchmark::State& s) {
  double x = kChainX, g = 0;
  adolc_record_chain(kAdolcReplayTag, x);
  for (int i = 0; i < 3; ++i) gradient(kAdolcReplayTag, 1, &x, &g);
  HeapDelta h;
  const auto t0 = Clock::now();
  for (auto _ : s) {
    gradient(kAdolcReplayTag, 1, &x, &g);
    benchmark::DoNotOptimize(g);
  }
  h.report(s);
  finish(s, t0, "chain_compiled", "adolc", kChainOps);
}

// Both libraries must differentiate the same function for the ratios to mean anything: the
// gradient (0.999^500, about 0.606) from tapegrad's chain and from ADOL-C's, re-taped and
// replayed, agree to float32's accumulated rounding over 1,000 ops.
void check_adolc_chain_matches() {
  tg::Tensor x = tg::full({1}, kChainX).requires_grad(true);
  tg::Tensor c = tg::full({1}, kChainC), d = tg::full({1}, kChainD);
  tg_chain_once(x, c, d);
  const double want = x.grad().item();
  double ax = kChainX, retaped = 0, replayed = 0;
  adolc_record_chain(kAdolcRetapeTag, ax);
  gradient(kAdolcRetapeTag, 1, &ax, &retaped);
  adolc_record_chain(kAdolcReplayTag, ax);
  gradient(kAdolcReplayTag, 1, &ax, &replayed);
  for (double got : {retaped, replayed}) {
    if (!(std::fabs(got - want) <= 1e-4 * std::fabs(want))) {
      std::fprintf(stderr,
                   "op_overhead: ADOL-C's chain gradient %.9g differs from tapegrad's %.9g (relative tolerance "
                   "1e-4): the two chains are not the same function, so their timings cannot be compared\n",
                   got, want);
      std::exit(1);
    }
  }
  char both[64];
  std::snprintf(both, sizeof both, "ADOL-C %.9g, tapegrad %.9g", replayed, want);
  benchmark::AddCustomContext("chain_gradient", both);
}
#endif

}  // namespace

BENCHMARK(BM_chain_tapegrad);
BENCHMARK(BM_chain_tapegrad_compiled);
BENCHMARK(BM_chain_tapegrad_anomaly);
#ifdef TAPEGRAD_BENCH_TORCH
BENCHMARK(BM_chain_libtorch);
#endif
#ifdef TAPEGRAD_BENCH_ADOLC
BENCHMARK(BM_chain_adolc_retape);
BENCHMARK(BM_chain_adolc_replay);
#endif
BENCHMARK(BM_rosenbrock_tapegrad);
BENCHMARK(BM_rosenbrock_tapegrad_compiled);
#ifdef TAPEGRAD_BENCH_TORCH
BENCHMARK(BM_rosenbrock_libtorch);
#endif

int main(int argc, char** argv) {
  bench::MainOptions o;
  // Recorded either way, so that the report tells "ADOL-C missing" from "op_overhead not run".
#ifdef TAPEGRAD_BENCH_ADOLC
  o.after_initialize = [](int) {
    benchmark::AddCustomContext("adolc", "yes");
    check_adolc_chain_matches();
  };
#else
  o.after_initialize = [](int) { benchmark::AddCustomContext("adolc", "not built (libadolc-dev missing)"); };
#endif
  return bench::run_main(argc, argv, o);
}
