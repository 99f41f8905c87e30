// Question: how much faster is one full gradient by backprop than by central differences, as the
// number of parameters grows? Two families, float64 (central differences need it):
//  - mlp: the net 784-H-10 with sigmoid hidden units, softmax cross-entropy over a fixed batch of
//    10, H in {1, 5, 20, 50, 100} (795 H + 10 parameters: 39,760 at H = 50);
//  - scalar: f(x) = sum(tanh(x) * x) + (mean(x))^2 / 2 over one tensor of N inputs, N = 10 .. 100,000.
// Central differences take 2 forward passes per parameter under NoGradGuard (step 1e-6). Above
// kMaxSampled parameters, an evenly spaced sample of kMaxSampled is timed and the time scaled by
// params / sampled (counter "extrapolated" = 1); max_abs_diff is over the parameters evaluated.
// After the runs it prints the least-squares slope of log(ratio) against log(params).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

#include "main.h"
#include "models.h"

namespace {
namespace tg = tapegrad;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMaxSampled = 1000;
constexpr double kStep = 1e-6;
constexpr int64_t kBatch = 10;

// A differentiable problem: its parameters and a loss of them.
struct Problem {
  std::vector<tg::Tensor> params;
  std::function<tg::Tensor()> loss;
  int64_t count() const {
    int64_t n = 0;
    for (const auto& p : params) n += p.numel();
    return n;
  }
};

Problem make_problem(const std::string& family, int64_t size) {
  Problem p;
  if (family == "mlp") {
    auto net = std::make_shared<tg::nn::Sequential>(bench::mlp({784, size, 10}, "sigmoid", tg::Dtype::f64));
    const tg::Tensor x = bench::fixed_input(kBatch, 784, tg::Dtype::f64);
    const std::vector<int64_t> labels = bench::fixed_labels(kBatch, 10);
    p.params = net->parameters();
    p.loss = [net, x, labels] { return tg::softmax_cross_entropy((*net)(x), labels); };
  } else {
    tg::Tensor x = tg::reshape(bench::fixed_input(1, size, tg::Dtype::f64), {size}).requires_grad(true);
    p.params = {x};
    p.loss = [x] { return tg::sum(tg::tanh(x) * x) + 0.5 * tg::square(tg::mean(x)); };
  }
  return p;
}

// Backprop gradient, flattened in parameter order.
std::vector<double> backprop_gradient(Problem& p) {
  for (auto& t : p.params) t.zero_grad();
  p.loss().backward();
  std::vector<double> g;
  for (const auto& t : p.params) {
    const auto v = t.grad().to_vector<double>();
    g.insert(g.end(), v.begin(), v.end());
  }
  return g;
}

// Element `flat` of the parameters, as a pointer into its storage.
double* element(Problem& p, int64_t flat) {
  for (auto& t : p.params) {
    if (flat < t.numel()) return t.data<double>() + flat;
    flat -= t.numel();
  }
  return nullptr;
}

std::map<std::string, double> backprop_seconds;  // by "family/size"
struct Point {
  std::string family;
  double params, ratio;
};
std::vector<Point> points;

void BM_backprop(benchmark::State& s, std::string family) {
  Problem p = make_problem(family, s.range(0));
  for (auto _ : s) {
    for (auto& t : p.params) t.zero_grad();
    p.loss().backward();
  }
  s.counters["params"] = double(p.count());
  s.SetLabel(family);
}

// Manual time: the (extrapolated) time of one full central-difference gradient.
void BM_numeric(benchmark::State& s, std::string family) {
  Problem p = make_problem(family, s.range(0));
  const int64_t n = p.count();
  const std::vector<double> exact = backprop_gradient(p);
  // Backprop time per gradient, measured here too (not relying on a previous benchmark's run).
  double bp = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    int reps = 0;
    do {
      for (auto& t : p.params) t.zero_grad();
      p.loss().backward();
      ++reps;
    } while (Clock::now() - t0 < std::chrono::milliseconds(20));
    bp = std::min(bp, std::chrono::duration<double>(Clock::now() - t0).count() / reps);
  }
  const int64_t sampled = std::min(n, kMaxSampled);
  // The same forward compiled once and replayed (what numerical_grad and gradcheck do): the
  // parameters are captured, so the in-place perturbations are read live.
  tg::Compiled replay;
  {
    tg::NoGradGuard no_grad;
    replay = tg::compile([&](const std::vector<tg::Tensor>&) { return p.loss(); }, {});
  }
  auto central = [&](auto&& forward, double& max_diff) {
    tg::NoGradGuard no_grad;
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < sampled; ++i) {
      const int64_t flat = i * n / sampled;
      double* w = element(p, flat);
      const double keep = *w;
      *w = keep + kStep;
      const double up = forward().item();
      *w = keep - kStep;
      const double down = forward().item();
      *w = keep;
      max_diff = std::max(max_diff, std::abs((up - down) / (2 * kStep) - exact[size_t(flat)]));
    }
    return std::chrono::duration<double>(Clock::now() - t0).count() * double(n) / double(sampled);
  };
  double max_diff = 0, seconds = 0, replayed = 0, replay_diff = 0;
  for (auto _ : s) {
    seconds = central([&] { return p.loss(); }, max_diff);
    replayed = central([&] { return replay({}); }, replay_diff);
    s.SetIterationTime(seconds);
  }
  s.counters["numeric_replay_us"] = replayed * 1e6;
  s.counters["replay_speedup"] = seconds / replayed;
  s.counters["replay_max_abs_diff"] = replay_diff;
  s.counters["params"] = double(n);
  s.counters["sampled"] = double(sampled);
  s.counters["extrapolated"] = sampled < n ? 1 : 0;
  s.counters["backprop_us"] = bp * 1e6;
  s.counters["numeric_us"] = seconds * 1e6;
  s.counters["ratio"] = seconds / bp;
  s.counters["max_abs_diff"] = max_diff;
  s.SetLabel(family + (sampled < n ? " (numeric: sampled, extrapolated)" : ""));
  points.push_back({family, double(n), seconds / bp});
}

void register_all() {
  for (int64_t h : {1, 5, 20, 50, 100}) {
    benchmark::RegisterBenchmark("BM_backprop/mlp", BM_backprop, std::string("mlp"))->Arg(h);
    benchmark::RegisterBenchmark("BM_numeric/mlp", BM_numeric, std::string("mlp"))
        ->Arg(h)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  for (int64_t n : {10, 100, 1000, 10000, 100000}) {
    benchmark::RegisterBenchmark("BM_backprop/scalar", BM_backprop, std::string("scalar"))->Arg(n);
    benchmark::RegisterBenchmark("BM_numeric/scalar", BM_numeric, std::string("scalar"))
        ->Arg(n)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  }
}

// Least-squares slope of log(ratio) on log(params).
void print_fit(const std::string& family) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& pt : points) {
    if (pt.family != family) continue;
    const double x = std::log(pt.params), y = std::log(pt.ratio);
    n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  if (n < 2) return;
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  const double icpt = (sy - slope * sx) / n;
  std::printf("fit %-6s: numeric/backprop time ratio ~ %.3g * params^%.3f  (log-log least squares, %d points)\n",
              family.c_str(), std::exp(icpt), slope, int(n));
}

}  // namespace

int main(int argc, char** argv) {
  bench::MainOptions o;
  o.before_initialize = [](int) { register_all(); };
  o.after_run = [] {
    print_fit("mlp");
    print_fit("scalar");
  };
  return bench::run_main(argc, argv, o);
}
