// The same seed gives bit-identical results, run after run and thread beside thread.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>
#include <thread>

namespace tg = tapegrad;

namespace {
struct Result {
  std::vector<float> losses;
  std::vector<float> weights;
};

// A 20-32-5 MLP trained for 50 SGD steps on seeded random data.
Result train(uint64_t seed) {
  tg::Generator gen(seed);
  auto X = tg::randn({64, 20}, gen);
  std::vector<int64_t> y(64);
  for (auto& label : y) label = static_cast<int64_t>(gen.below(5));
  auto W1 = (tg::randn({20, 32}, gen) * 0.1).detach().requires_grad(true);
  auto b1 = tg::zeros({32}).requires_grad(true);
  auto W2 = (tg::randn({32, 5}, gen) * 0.1).detach().requires_grad(true);
  auto b2 = tg::zeros({5}).requires_grad(true);
  std::vector<tg::Tensor> params{W1, b1, W2, b2};
  Result r;
  for (int step = 0; step < 50; ++step) {
    auto loss = tg::softmax_cross_entropy(tg::matmul(tg::tanh(tg::matmul(X, W1) + b1), W2) + b2, y);
    r.losses.push_back(static_cast<float>(loss.item()));
    loss.backward();
    tg::NoGradGuard no_grad;
    for (auto& p : params) {
      p.add_(p.grad(), -0.1);
      p.zero_grad();
    }
  }
  for (auto& p : params)
    for (float v : p.to_vector<float>()) r.weights.push_back(v);
  return r;
}
}  // namespace

TEST(Determinism, SameSeedSameBitsRunAfterRun) {
  Result a = train(11), b = train(11), c = train(12);
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_NE(a.weights, c.weights);
  EXPECT_LT(a.losses.back(), a.losses.front());
}

TEST(Determinism, ThreadsTrainingAtOnceMatchRunsOneAfterAnother) {
  Result sequential[3] = {train(1), train(2), train(3)};
  Result concurrent[3];
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&, i] { concurrent[i] = train(static_cast<uint64_t>(i + 1)); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(concurrent[i].losses, sequential[i].losses) << "model " << i;
    EXPECT_EQ(concurrent[i].weights, sequential[i].weights) << "model " << i;
  }
}
