// Question: how long does one float32 training step take (forward, softmax cross-entropy,
// backward, SGD update), eager, with its forward compiled, and compiled whole (tg::compile_step),
// how close does the whole compiled step come to the time of its matrix products alone, and does
// it call malloc in the steady state? Nets: (a) 784-50-10 ReLU batch 100, (b) 784-512-512-10 ReLU
// batch 256, (c) 2-2-2 sigmoid batch 1; the same steps in libtorch in this process, with
// tapegrad's time over libtorch's as a counter.
#include <benchmark/benchmark.h>

#include "gemm_paths.h"
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

struct Net {
  const char* name;
  std::vector<int64_t> sizes;
  const char* act;
  int64_t batch;
};
const Net kNets[] = {
    {"a_784_50_10_b100", {784, 50, 10}, "relu", 100},
    {"b_784_512_512_10_b256", {784, 512, 512, 10}, "relu", 256},
    {"c_2_2_2_sigmoid_b1", {2, 2, 2}, "sigmoid", 1},
};
constexpr double kLr = 0.01;
std::map<std::string, double> tapegrad_us;  // last tapegrad time per net, for the ratio
std::map<std::string, double> float32_us;   // last time per variant and net, for bf16's speedup

struct Counters {
  const Net& net;
  uint64_t sys0 = tg::memory_stats().system_allocations;
  uint64_t heap0 = bench::heap_calls.load();
  Clock::time_point t0 = Clock::now();
  void report(benchmark::State& s, const std::string& lib) {
    const double it = double(s.iterations());
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / it;
    s.counters["us_per_step"] = us;
    s.counters["samples_per_s"] = double(net.batch) * 1e6 / us;
    s.counters["matmul_GFLOPs"] = bench::step_flops(net.sizes, net.batch) / (us * 1e3);
    s.counters["heap_calls_per_step"] = double(bench::heap_calls.load() - heap0) / it;
    if (lib.rfind("tapegrad", 0) == 0) {
      s.counters["tg_sys_allocs_per_step"] = double(tg::memory_stats().system_allocations - sys0) / it;
      const std::string key = lib + "/" + net.name;
      const size_t bf16 = lib.rfind("_bf16");
      if (bf16 == std::string::npos) float32_us[key] = us;
      else if (float32_us.count(lib.substr(0, bf16) + "/" + net.name))
        s.counters["bf16_speedup"] = float32_us[lib.substr(0, bf16) + "/" + net.name] / us;
      if (lib == "tapegrad") tapegrad_us[net.name] = us;
    } else if (tapegrad_us.count(net.name)) {
      s.counters["tapegrad_over_libtorch"] = tapegrad_us[net.name] / us;
    }
    s.SetLabel(net.name);
  }
};

// `precision` bf16: the forward under tg::AutocastGuard (mixed precision: bfloat16 operands of the
// products, float32 weights, gradients and update), the "_bf16" variant.
void eager_step(benchmark::State& s, tg::Dtype precision) {
  const Net& net = kNets[s.range(0)];
  tg::nn::Sequential model = bench::mlp(net.sizes, net.act);
  tg::optim::SGD opt(model.parameters(), {.lr = kLr});
  const tg::Tensor x = bench::fixed_input(net.batch, net.sizes.front());
  const std::vector<int64_t> labels = bench::fixed_labels(net.batch, net.sizes.back());
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
  for (int i = 0; i < 5; ++i) step();  // steady state: caches filled
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  step();
  s.SetLabel(bench::gemm_paths(before, tg::gemm_path_counts()) + " per step");
  Counters c{net};
  for (auto _ : s) step();
  c.report(s, precision == tg::Dtype::bf16 ? "tapegrad_bf16" : "tapegrad");
  if (precision == tg::Dtype::bf16) s.SetLabel(std::string(net.name) + ", bf16 products: " + tg::bf16_path());
}
void BM_step_tapegrad(benchmark::State& s) { eager_step(s, tg::Dtype::f32); }
void BM_step_tapegrad_bf16(benchmark::State& s) { eager_step(s, tg::Dtype::bf16); }

// The labels as the float tensor a compiled step takes as an input (a std::vector would be
// captured, not passed at each call).
tg::Tensor label_tensor(const Net& net) {
  const std::vector<int64_t> lv = bench::fixed_labels(net.batch, net.sizes.back());
  return tg::from_vector(std::vector<double>(lv.begin(), lv.end()), {net.batch});
}

// The same step with its forward compiled once (tg::compile) and replayed; backward replays the
// recorded nodes.
void BM_step_tapegrad_compiled(benchmark::State& s) {
  const Net& net = kNets[s.range(0)];
  tg::nn::Sequential model = bench::mlp(net.sizes, net.act);
  tg::optim::SGD opt(model.parameters(), {.lr = kLr});
  const tg::Tensor x = bench::fixed_input(net.batch, net.sizes.front());
  const tg::Tensor labels = label_tensor(net);
  tg::Compiled forward = tg::compile(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(model(in[0]), in[1]); }, {x, labels});
  const std::vector<tg::Tensor> in{x, labels};
  auto step = [&] {
    opt.zero_grad();
    forward(in).backward();
    opt.step();
  };
  for (int i = 0; i < 5; ++i) step();
  Counters c{net};
  for (auto _ : s) step();
  c.report(s, "tapegrad_compiled");
}

// The whole step compiled once (tg::compile_step): each call replays the forward, the traced
// backward and the SGD update, with no zero_grad.
void compiled_step(benchmark::State& s, tg::Dtype precision) {
  const Net& net = kNets[s.range(0)];
  tg::nn::Sequential model = bench::mlp(net.sizes, net.act);
  tg::optim::SGD opt(model.parameters(), {.lr = kLr});
  const std::vector<tg::Tensor> in{bench::fixed_input(net.batch, net.sizes.front()), label_tensor(net)};
  tg::CompiledStep step = tg::compile_step(
      [&](const std::vector<tg::Tensor>& v) {
        tg::AutocastGuard autocast(precision);
        return tg::softmax_cross_entropy(model(v[0]), v[1]);
      },
      in, opt);
  for (int i = 0; i < 5; ++i) step(in);
  Counters c{net};
  for (auto _ : s) step(in);
  c.report(s, precision == tg::Dtype::bf16 ? "tapegrad_compile_step_bf16" : "tapegrad_compile_step");
  if (precision == tg::Dtype::bf16) s.SetLabel(std::string(net.name) + ", bf16 products: " + tg::bf16_path());
}
void BM_step_tapegrad_compile_step(benchmark::State& s) { compiled_step(s, tg::Dtype::f32); }
void BM_step_tapegrad_compile_step_bf16(benchmark::State& s) { compiled_step(s, tg::Dtype::bf16); }

// The floor a step's time is judged against: its matrix products alone, at the step's shapes.
// Per layer in->out at batch b: the forward X W ([b,in]x[in,out]), dW = X^T dY ([in,b]x[b,out])
// and, past the first layer, dX = dY W^T ([b,out]x[out,in]); the input needs no gradient, so the
// step computes no dX for the first layer. Compiled (tg::compile) on operands that need no
// gradient, so a call runs the products as direct kernel calls and nothing else. The step reads
// X^T and W^T through the GEMM's transpose flags; here they are copies made beforehand, so that
// the timed program holds no transpose.
void BM_step_gemm_alone(benchmark::State& s) {
  const Net& net = kNets[s.range(0)];
  const size_t layers = net.sizes.size() - 1;
  std::vector<tg::Tensor> in;  // per layer: X, W, X^T, dY, then W^T past the first layer
  uint64_t seed = 1;
  for (size_t l = 0; l < layers; ++l) {
    const tg::Tensor x = bench::fixed_input(net.batch, net.sizes[l], tg::Dtype::f32, seed++);
    const tg::Tensor w = bench::fixed_input(net.sizes[l], net.sizes[l + 1], tg::Dtype::f32, seed++);
    const tg::Tensor dy = bench::fixed_input(net.batch, net.sizes[l + 1], tg::Dtype::f32, seed++);
    in.insert(in.end(), {x, w, tg::transpose(x), dy});
    if (l > 0) in.push_back(tg::transpose(w));
  }
  tg::Compiled products = tg::compile(
      [layers](const std::vector<tg::Tensor>& v) {
        tg::Tensor last;
        size_t i = 0;
        for (size_t l = 0; l < layers; ++l) {
          const tg::Tensor &x = v[i], &w = v[i + 1], &xt = v[i + 2], &dy = v[i + 3];
          i += 4;
          tg::matmul(x, w);  // kept by the program though unused: every computed tensor is a slot
          last = tg::matmul(xt, dy);
          if (l > 0) last = tg::matmul(dy, v[i++]);
        }
        return last;
      },
      in);
  // Only the products are timed: one op per product, no backward.
  const size_t expected = 3 * layers - 1;
  if (products.ops() != expected || products.backward_ops() != 0) {
    s.SkipWithError(("the compiled products hold " + std::to_string(products.ops()) + " ops, expected " +
                     std::to_string(expected) + ":\n" + products.program()).c_str());
    return;
  }
  for (int i = 0; i < 5; ++i) products(in);
  Counters c{net};
  for (auto _ : s) products(in);
  c.report(s, "tapegrad_gemm_alone");
}

#ifdef TAPEGRAD_BENCH_TORCH
void BM_step_libtorch(benchmark::State& s) {
  const Net& net = kNets[s.range(0)];
  torch::manual_seed(0);
  torch::nn::Sequential model;
  for (size_t i = 0; i + 1 < net.sizes.size(); ++i) {
    model->push_back(torch::nn::Linear(net.sizes[i], net.sizes[i + 1]));
    if (i + 2 < net.sizes.size()) {
      if (std::string(net.act) == "relu") model->push_back(torch::nn::ReLU());
      else model->push_back(torch::nn::Sigmoid());
    }
  }
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(kLr));
  const tg::Tensor xt = bench::fixed_input(net.batch, net.sizes.front());
  const torch::Tensor x = torch::from_blob(const_cast<float*>(xt.data<float>()), {net.batch, net.sizes.front()},
                                           torch::kFloat32).clone();
  std::vector<int64_t> lv = bench::fixed_labels(net.batch, net.sizes.back());
  const torch::Tensor labels = torch::from_blob(lv.data(), {net.batch}, torch::kInt64).clone();
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), labels);
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 5; ++i) step();
  Counters c{net};
  for (auto _ : s) step();
  c.report(s, "libtorch");
}
#endif

void register_all() {
  for (int i = 0; i < 3; ++i) {
    benchmark::RegisterBenchmark("BM_step_tapegrad", BM_step_tapegrad)->Arg(i);
    benchmark::RegisterBenchmark("BM_step_tapegrad_compiled", BM_step_tapegrad_compiled)->Arg(i);
    benchmark::RegisterBenchmark("BM_step_tapegrad_compile_step", BM_step_tapegrad_compile_step)->Arg(i);
    if (i < 2) {  // the 2-2-2 net has no product worth rounding
      benchmark::RegisterBenchmark("BM_step_tapegrad_bf16", BM_step_tapegrad_bf16)->Arg(i);
      benchmark::RegisterBenchmark("BM_step_tapegrad_compile_step_bf16", BM_step_tapegrad_compile_step_bf16)->Arg(i);
    }
    benchmark::RegisterBenchmark("BM_step_gemm_alone", BM_step_gemm_alone)->Arg(i);
#ifdef TAPEGRAD_BENCH_TORCH
    benchmark::RegisterBenchmark("BM_step_libtorch", BM_step_libtorch)->Arg(i);
#endif
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::MainOptions o;
  o.before_initialize = [](int) { register_all(); };
  return bench::run_main(argc, argv, o);
}
