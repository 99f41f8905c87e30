// Question: how many instructions does one iteration of each hot-path workload execute? Clocks
// drift with the machine and its load; callgrind's instruction counts do not, so a change to
// tape recording, replay, elementwise loops or GEMM calls is compared by these figures, before
// and after (benchmarks/instruction_counts.sh runs this program under callgrind).
//
//   instruction_counts WORKLOAD ITERATIONS
//
// Instrumentation is on only around the measured loop (callgrind --instr-atstart=no), after
// warm-up iterations that fill the caches and the tape's pools.
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "models.h"

namespace {
namespace tg = tapegrad;

constexpr int kChainOps = 1000;

tg::Tensor chain(tg::Tensor y, const tg::Tensor& c, const tg::Tensor& d) {
  for (int i = 0; i < kChainOps / 2; ++i) y = tg::mul(tg::add(y, c), d);
  return y;
}

// One workload: set up once, then return the step to repeat.
using Workload = std::function<std::function<void()>()>;

std::function<void()> mlp_step(std::vector<int64_t> sizes, const char* act, int64_t batch) {
  auto model = std::make_shared<tg::nn::Sequential>(bench::mlp(sizes, act));
  auto opt = std::make_shared<tg::optim::SGD>(model->parameters(), tg::optim::SGDOptions{.lr = 0.01});
  const tg::Tensor x = bench::fixed_input(batch, sizes.front());
  const std::vector<int64_t> labels = bench::fixed_labels(batch, sizes.back());
  return [=] {
    opt->zero_grad();
    tg::softmax_cross_entropy((*model)(x), labels).backward();
    opt->step();
  };
}

// The same step as one tg::compile_step program; the labels are an input (float class indices).
std::function<void()> mlp_compiled_step(std::vector<int64_t> sizes, const char* act, int64_t batch) {
  auto model = std::make_shared<tg::nn::Sequential>(bench::mlp(sizes, act));
  auto opt = std::make_shared<tg::optim::SGD>(model->parameters(), tg::optim::SGDOptions{.lr = 0.01});
  const tg::Tensor x = bench::fixed_input(batch, sizes.front());
  const std::vector<int64_t> lv = bench::fixed_labels(batch, sizes.back());
  const tg::Tensor labels = tg::from_vector(std::vector<double>(lv.begin(), lv.end()), {batch});
  auto step = std::make_shared<tg::CompiledStep>(tg::compile_step(
      [model](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy((*model)(in[0]), in[1]); },
      {x, labels}, *opt));
  return [opt, step, x, labels] { (*step)({x, labels}); };  // opt: the step updates it
}

const std::map<std::string, Workload>& workloads() {
  static const std::map<std::string, Workload> w = {
      {"chain",
       [] {
         tg::Tensor x = tg::full({1}, 0.5).requires_grad(true);
         tg::Tensor c = tg::full({1}, 1e-3), d = tg::full({1}, 0.999);
         return std::function<void()>([=] { chain(x, c, d).backward(); });
       }},
      {"chain_compiled",
       [] {
         tg::Tensor x = tg::full({1}, 0.5).requires_grad(true);
         tg::Tensor c = tg::full({1}, 1e-3), d = tg::full({1}, 0.999);
         auto step = std::make_shared<tg::Compiled>(
             tg::compile([=](const std::vector<tg::Tensor>& in) { return chain(in[0], c, d); }, {x}));
         return std::function<void()>([=] { (*step)({x}).backward(); });
       }},
      {"step_784_50_10_b100", [] { return mlp_step({784, 50, 10}, "relu", 100); }},
      {"step_784_512_512_10_b256", [] { return mlp_step({784, 512, 512, 10}, "relu", 256); }},
      {"step_2_2_2_sigmoid_b1", [] { return mlp_step({2, 2, 2}, "sigmoid", 1); }},
      {"compiled_step_2_2_2_sigmoid_b1", [] { return mlp_compiled_step({2, 2, 2}, "sigmoid", 1); }},
      {"compiled_step_784_50_10_b100", [] { return mlp_compiled_step({784, 50, 10}, "relu", 100); }},
  };
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || !workloads().count(argv[1])) {
    std::fprintf(stderr, "usage: instruction_counts WORKLOAD ITERATIONS\nworkloads:");
    for (const auto& [name, _] : workloads()) std::fprintf(stderr, " %s", name.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  const int iterations = std::atoi(argv[2]);
  if (iterations < 1) {
    std::fprintf(stderr, "instruction_counts: ITERATIONS must be >= 1, got '%s'\n", argv[2]);
    return 2;
  }
  tg::set_num_threads(1);
  const std::function<void()> step = workloads().at(argv[1])();
  for (int i = 0; i < 3; ++i) step();
  CALLGRIND_START_INSTRUMENTATION;
  for (int i = 0; i < iterations; ++i) step();
  CALLGRIND_STOP_INSTRUMENTATION;
  std::printf("%s %d iterations\n", argv[1], iterations);
  return 0;
}
