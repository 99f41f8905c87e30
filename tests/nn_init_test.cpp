#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {

struct Stats {
  double mean = 0, std = 0, min = INFINITY, max = -INFINITY;
};

Stats stats(const tg::Tensor& t) {
  Stats s;
  auto v = t.to_vector<double>();
  for (double x : v) {
    s.mean += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean /= v.size();
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / v.size());
  return s;
}

}  // namespace

TEST(NnInit, NormalAndUniformHaveTheRequestedMoments) {
  tg::Generator gen(1);
  auto t = tg::zeros({400, 500});  // 200000 draws: the standard error of the mean is ~0.0022 sigma
  auto s = stats(tg::nn::init::normal(t, 3.0, 2.0, gen));
  EXPECT_NEAR(s.mean, 3.0, 0.02);
  EXPECT_NEAR(s.std, 2.0, 0.02);
  s = stats(tg::nn::init::uniform(t, -1.0, 3.0, gen));
  EXPECT_GE(s.min, -1.0);
  EXPECT_LT(s.max, 3.0);
  EXPECT_NEAR(s.mean, 1.0, 0.02);
  EXPECT_NEAR(s.std, 4.0 / std::sqrt(12.0), 0.01);  // U(a, b) has std (b - a) / sqrt(12)
}

TEST(NnInit, XavierAndKaimingFollowTheirFans) {
  tg::Generator gen(2);
  auto w = tg::zeros({200, 600});  // fan_in 200, fan_out 600
  // Glorot uniform bound sqrt(6 / (200 + 600)) = 0.0866; He uniform bound sqrt(2) sqrt(3 / 200) = 0.1732.
  auto s = stats(tg::nn::init::xavier_uniform(w, gen));
  EXPECT_GE(s.min, -0.086603);
  EXPECT_LE(s.max, 0.086603);
  EXPECT_GT(s.max, 0.0865);
  s = stats(tg::nn::init::kaiming_uniform(w, gen));
  EXPECT_GE(s.min, -0.173206);
  EXPECT_LE(s.max, 0.173206);
  EXPECT_LT(s.min, -0.1730);
  // Glorot normal std sqrt(2 / 800) = 0.05; He normal std sqrt(2 / 200) = 0.1.
  s = stats(tg::nn::init::xavier_normal(w, gen));
  EXPECT_NEAR(s.mean, 0.0, 0.001);
  EXPECT_NEAR(s.std, 0.05, 0.0005);
  s = stats(tg::nn::init::kaiming_normal(w, gen));
  EXPECT_NEAR(s.std, 0.1, 0.001);
  s = stats(tg::nn::init::kaiming_normal(w, 1.0, gen));  // gain 1: std 1/sqrt(200)
  EXPECT_NEAR(s.std, 0.070711, 0.0007);
  // The fans use the {in, out} layout and any further dimensions as a receptive field.
  auto f = tg::nn::init::fans(tg::zeros({3, 5, 2}));
  EXPECT_EQ(f.in, 6);
  EXPECT_EQ(f.out, 10);
  EXPECT_THROW(tg::nn::init::xavier_uniform(tg::zeros({7}), gen), tg::Error);
}

TEST(NnInit, ZerosAndConstantWriteInPlaceWithoutRecording) {
  auto p = tg::ones({3, 2}).requires_grad(true);
  auto handle = p;
  const uint32_t v = p.version();
  const size_t nodes = tg::Tape::current().live_nodes();
  tg::nn::init::constant(p, 0.5);
  EXPECT_EQ(handle.to_vector<float>(), std::vector<float>(6, 0.5f));
  EXPECT_GT(p.version(), v);
  tg::nn::init::zeros(p);
  EXPECT_EQ(handle.to_vector<float>(), std::vector<float>(6, 0.0f));
  tg::Generator gen(0);
  const uint32_t v2 = p.version();
  tg::nn::init::normal(p, 0.0, 1.0, gen);
  EXPECT_GT(p.version(), v2);
  EXPECT_TRUE(p.is_leaf() && p.requires_grad());
  EXPECT_EQ(tg::Tape::current().live_nodes(), nodes);
  EXPECT_THROW(tg::nn::init::zeros(tg::Tensor()), tg::Error);
}

TEST(NnInit, SameSeedSameBitsInBothDtypes) {
  tg::Generator g1(42), g2(42), g3(43);
  auto a = tg::nn::init::kaiming_normal(tg::zeros({50, 20}, tg::Dtype::f64), g1);
  auto b = tg::nn::init::kaiming_normal(tg::zeros({50, 20}, tg::Dtype::f64), g2);
  auto c = tg::nn::init::kaiming_normal(tg::zeros({50, 20}, tg::Dtype::f64), g3);
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
  EXPECT_NE(a.to_vector<double>(), c.to_vector<double>());
  // float32 receives the same draws, rounded.
  g1.seed(42);
  auto f = tg::nn::init::kaiming_normal(tg::zeros({50, 20}), g1);
  EXPECT_EQ(f.to_vector<float>(), a.to_vector<float>());
}

TEST(NnInit, DefaultGeneratorIsPerThreadAndSeedable) {
  tg::nn::manual_seed(123);
  auto a = tg::nn::init::uniform(tg::zeros({100}));
  tg::nn::manual_seed(123);
  auto b = tg::nn::init::uniform(tg::zeros({100}));
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  // Another thread has its own generator, started from seed 0, untouched by this thread's seed.
  std::vector<float> other1, other2;
  std::thread([&] { other1 = tg::nn::init::uniform(tg::zeros({100})).to_vector<float>(); }).join();
  tg::nn::manual_seed(999);
  std::thread([&] { other2 = tg::nn::init::uniform(tg::zeros({100})).to_vector<float>(); }).join();
  EXPECT_EQ(other1, other2);
  tg::Generator zero(0);
  EXPECT_EQ(other1, tg::nn::init::uniform(tg::zeros({100}), 0.0, 1.0, zero).to_vector<float>());
}
