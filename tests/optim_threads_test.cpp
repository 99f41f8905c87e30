// The optimizers' updates and the bias added along rows run on tg::set_num_threads threads above
// 65,536 elements, in ranges each computed as the one-thread loop computes it: training gives the
// same bits on one thread and two.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include <functional>
#include <memory>

namespace tg = tapegrad;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<tg::optim::Optimizer>(std::vector<tg::Tensor>)>;

// Three steps of a 512 -> 256 linear layer on a batch of 256 (its weight, 131,072 elements, and the
// forward's bias add along rows, 65,536, are both above the threshold), the parameters after them.
std::vector<std::vector<float>> train(int threads, const MakeOptimizer& make, tg::Dtype dtype) {
  tg::set_num_threads(threads);
  tg::Generator gen(7);
  const tg::Tensor x = tg::randn({256, 512}, gen).to(dtype), target = tg::randn({256, 256}, gen).to(dtype);
  tg::Tensor w = (tg::randn({256, 512}, gen) * 0.05).to(dtype).requires_grad(true);
  tg::Tensor b = tg::randn({256}, gen).to(dtype).requires_grad(true);
  std::unique_ptr<tg::optim::Optimizer> opt = make({w, b});
  for (int step = 0; step < 3; ++step) {
    opt->zero_grad();
    tg::mse_loss(tg::matmul(x, tg::transpose(w)) + b, target).backward();
    opt->step();
  }
  tg::set_num_threads(1);
  return {w.to(tg::Dtype::f32).to_vector<float>(), b.to(tg::Dtype::f32).to_vector<float>()};
}

void expect_same_bits_on_two_threads(const char* name, const MakeOptimizer& make) {
  for (tg::Dtype dtype : {tg::Dtype::f32, tg::Dtype::f64}) {
    const auto one = train(1, make, dtype), two = train(2, make, dtype);
    const auto start = train(1, [](std::vector<tg::Tensor> p) {
      return std::make_unique<tg::optim::SGD>(std::move(p), tg::optim::SGDOptions{.lr = 0.0});
    }, dtype);
    EXPECT_NE(one[0], start[0]) << name << ": the weights did not move";
    EXPECT_TRUE(one[0] == two[0]) << name << " (" << tg::dtype_name(dtype) << "): weights";
    EXPECT_TRUE(one[1] == two[1]) << name << " (" << tg::dtype_name(dtype) << "): bias";
  }
}

}  // namespace

TEST(OptimThreads, SGDWithMomentumIsTheSameBitsOnTwoThreads) {
  expect_same_bits_on_two_threads("SGD", [](std::vector<tg::Tensor> p) {
    return std::make_unique<tg::optim::SGD>(std::move(p),
                                            tg::optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3});
  });
}

TEST(OptimThreads, AdamIsTheSameBitsOnTwoThreads) {
  expect_same_bits_on_two_threads("Adam", [](std::vector<tg::Tensor> p) {
    return std::make_unique<tg::optim::Adam>(std::move(p), tg::optim::AdamOptions{.lr = 1e-2, .amsgrad = true});
  });
}

TEST(OptimThreads, AdagradAndRMSpropAreTheSameBitsOnTwoThreads) {
  expect_same_bits_on_two_threads("Adagrad", [](std::vector<tg::Tensor> p) {
    return std::make_unique<tg::optim::Adagrad>(std::move(p), tg::optim::AdagradOptions{.lr = 1e-2});
  });
  expect_same_bits_on_two_threads("RMSprop", [](std::vector<tg::Tensor> p) {
    return std::make_unique<tg::optim::RMSprop>(
        std::move(p), tg::optim::RMSpropOptions{.lr = 1e-3, .momentum = 0.5, .centered = true});
  });
}
