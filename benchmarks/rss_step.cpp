// Question: how much memory does training take, and does compiling the step (tg::compile_step)
// take more than the eager loop? Runs 1,000 SGD steps of the 784-512-512-10 ReLU net at batch 256
// (float32), in tapegrad (eager, or compiled with the third argument "compiled") or (built with
// TAPEGRAD_BENCH_TORCH) libtorch; run it under `/usr/bin/time -v` and read "Maximum resident set
// size". Usage: rss_step_X [threads] [steps] [eager|compiled]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#ifdef TAPEGRAD_BENCH_TORCH
#include <dlfcn.h>
#include <torch/torch.h>

#include "loaded_blas.h"
#else
#include "models.h"
#endif

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 1000;
  const std::string mode = argc > 3 ? argv[3] : "eager";
  if (mode != "eager" && mode != "compiled") {
    std::fprintf(stderr, "%s: the mode must be eager or compiled, got '%s'\n", argv[0], mode.c_str());
    return 2;
  }
  const std::vector<int64_t> sizes = {784, 512, 512, 10};
  const int64_t batch = 256;
  std::vector<int64_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = i % 10;
  double last = 0;
#ifdef TAPEGRAD_BENCH_TORCH
  if (mode == "compiled") {
    std::fprintf(stderr, "%s: libtorch's step has no compiled mode here\n", argv[0]);
    return 2;
  }
  torch::set_num_threads(threads);
  using SetThreads = void (*)(int);  // libtorch's BLAS may be OpenBLAS with its own thread pool
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(threads);
  bench::record_blas([](const char*, const std::string&) {});  // its stderr line lands in the report's input
  torch::manual_seed(0);
  torch::nn::Sequential model(torch::nn::Linear(784, 512), torch::nn::ReLU(), torch::nn::Linear(512, 512),
                              torch::nn::ReLU(), torch::nn::Linear(512, 10));
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.01));
  const torch::Tensor x = torch::rand({batch, 784}) * 2 - 1;
  const torch::Tensor y = torch::from_blob(labels.data(), {batch}, torch::kInt64).clone();
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    if (s == steps - 1) last = loss.item<double>();
  }
  std::printf("libtorch: %d steps, threads %d, final loss %.4f\n", steps, threads, last);
#else
  namespace tg = tapegrad;
  tg::set_num_threads(threads);
  tg::nn::Sequential model = bench::mlp(sizes, "relu");
  tg::optim::SGD opt(model.parameters(), {.lr = 0.01});
  const tg::Tensor x = bench::fixed_input(batch, 784);
  if (mode == "compiled") {
    // The labels as a tensor input of the step, as tapegrad-train passes them.
    const tg::Tensor y = tg::from_vector(std::vector<double>(labels.begin(), labels.end()), {batch});
    tg::CompiledStep step = tg::compile_step(
        [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(model(in[0]), in[1]); }, {x, y}, opt);
    for (int s = 0; s < steps; ++s) {
      tg::Tensor loss = step({x, y});
      if (s == steps - 1) last = loss.item();
    }
  } else {
    for (int s = 0; s < steps; ++s) {
      opt.zero_grad();
      tg::Tensor loss = tg::softmax_cross_entropy(model(x), labels);
      loss.backward();
      opt.step();
      if (s == steps - 1) last = loss.item();
    }
  }
  std::printf("tapegrad, %s: %d steps, threads %d, final loss %.4f\n", mode.c_str(), steps, threads, last);
#endif
}
