#pragma once
// Shared by the benchmark programs: the thread-count flag, the models they train, and a
// process-wide heap-call counter. Each program answers one question; see its header comment.
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tapegrad/tapegrad.h"

namespace bench {

namespace tg = tapegrad;

/// Threads for this run: `--threads=N` (removed from argv so Google Benchmark does not see it),
/// else the environment variable TG_BENCH_THREADS, else 1.
inline int take_threads_flag(int& argc, char** argv) {
  int n = 1;
  if (const char* e = std::getenv("TG_BENCH_THREADS")) n = std::atoi(e);
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) n = std::atoi(argv[i] + 10);
    else argv[out++] = argv[i];
  }
  argc = out;
  return n < 1 ? 1 : n;
}

/// Sets OpenBLAS's thread count if OpenBLAS is loaded in this process (libtorch may call it as its
/// BLAS through libblas.so.3); OpenBLAS otherwise starts one thread per core.
/// Returns whether OpenBLAS was found.
inline bool set_openblas_threads(int n) {
  using Fn = void (*)(int);
  auto f = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (f) f(n);
  return f != nullptr;
}

/// A [rows, cols] tensor of values in [-1, 1) from a fixed linear congruential sequence.
inline tg::Tensor fixed_input(int64_t rows, int64_t cols, tg::Dtype dtype = tg::Dtype::f32, uint64_t seed = 1) {
  std::vector<double> v(static_cast<size_t>(rows * cols));
  for (auto& x : v) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<double>(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0;
  }
  return tg::from_vector(v, {rows, cols}, dtype);
}

/// Class labels 0..classes-1 in turn.
inline std::vector<int64_t> fixed_labels(int64_t batch, int64_t classes) {
  std::vector<int64_t> l(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) l[static_cast<size_t>(i)] = i % classes;
  return l;
}

/// Fully connected net with `sizes` = {in, h1, ..., out}; `act` between layers ("relu"/"sigmoid").
inline tg::nn::Sequential mlp(const std::vector<int64_t>& sizes, const std::string& act,
                              tg::Dtype dtype = tg::Dtype::f32) {
  tg::nn::manual_seed(0);
  tg::nn::Sequential net;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    net.push_back(tg::nn::Linear(sizes[i], sizes[i + 1], {.dtype = dtype}));
    if (i + 2 < sizes.size()) {
      if (act == "relu") net.push_back(tg::nn::ReLU());
      else net.push_back(tg::nn::Sigmoid());
    }
  }
  return net;
}

/// Multiply-accumulates of the forward matrix products of an MLP at `batch`.
inline double forward_macs(const std::vector<int64_t>& sizes, int64_t batch) {
  double m = 0;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) m += double(batch) * double(sizes[i]) * double(sizes[i + 1]);
  return m;
}

/// FLOPs of one training step's matrix products: forward, plus per layer dW and dX (no dX for
/// the first layer: the input needs no gradient), 2 flops per multiply-accumulate.
inline double step_flops(const std::vector<int64_t>& sizes, int64_t batch) {
  const double fwd = forward_macs(sizes, batch);
  const double bwd = 2 * fwd - double(batch) * double(sizes[0]) * double(sizes[1]);
  return 2 * (fwd + bwd);
}

/// The net of `tapegrad-train --model cnn`, for 28x28 images: conv 1->32 3x3 pad 1, ReLU, max-pool
/// 2, conv 32->64, ReLU, max-pool 2, flatten, linear 3136->128, ReLU, linear 128->10.
inline tg::nn::Sequential fashion_cnn() {
  tg::Generator gen(0);
  namespace nn = tg::nn;
  return nn::Sequential{nn::Conv2d(1, 32, 3, {.padding = 1, .generator = &gen}), nn::ReLU(), nn::MaxPool2d(2),
                        nn::Conv2d(32, 64, 3, {.padding = 1, .generator = &gen}), nn::ReLU(), nn::MaxPool2d(2),
                        nn::Flatten(), nn::Linear(3136, 128, {.generator = &gen}), nn::ReLU(),
                        nn::Linear(128, 10, {.generator = &gen})};
}

}  // namespace bench
