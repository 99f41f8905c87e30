// tg::dist at the library level, for any number of ranks: ctest runs this program as one plain
// process (every collective the identity) and, where MPI is built in, under
// `mpirun -np 2`. Every rank calls the same collectives in the same order whatever it asserts,
// so a failed expectation on one rank cannot leave the other waiting.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../message_of.h"
#include "tapegrad/tapegrad.h"

namespace tg = tapegrad;
namespace dist = tg::dist;

namespace {

int ranks() { return dist::size(); }
int me() { return dist::rank(); }
// 1 + 2 + ... + size(): the sum of (rank + 1) over the ranks.
double triangle() { return ranks() * (ranks() + 1) / 2.0; }

TEST(Dist, SizeAndRankAgreeWithTheLauncher) {
  EXPECT_EQ(ranks(), dist::launched_size());
  EXPECT_GE(me(), 0);
  EXPECT_LT(me(), ranks());
  EXPECT_EQ(dist::is_main(), me() == 0);
  EXPECT_EQ(dist::initialized(), dist::launched());
  dist::barrier();
}

TEST(Dist, AllReduceSumOfATensorIsTheSumOverRanks) {
  tg::Tensor f = tg::full({3, 2}, static_cast<double>(me() + 1));
  dist::all_reduce_sum(f);
  for (float v : f.to_vector<float>()) EXPECT_EQ(v, static_cast<float>(triangle()));
  tg::Tensor d = tg::full({4}, 0.5 * (me() + 1), tg::Dtype::f64);
  dist::all_reduce_sum(d);
  for (double v : d.to_vector<double>()) EXPECT_EQ(v, 0.5 * triangle());
}

TEST(Dist, AllReduceSumOfDoublesAndAllGather) {
  const std::vector<double> sums = dist::all_reduce_sum({1.0, static_cast<double>(me() + 1), -2.0});
  EXPECT_EQ(sums, (std::vector<double>{1.0 * ranks(), triangle(), -2.0 * ranks()}));
  const std::vector<double> values = dist::all_gather(10.0 * me());
  ASSERT_EQ(values.size(), static_cast<size_t>(ranks()));
  for (int r = 0; r < ranks(); ++r) EXPECT_EQ(values[static_cast<size_t>(r)], 10.0 * r);
}

TEST(Dist, AllGatherOfStringsKeepsEveryLengthAndOrder) {
  // Rank 0's text is empty: a zero-length contribution must not shift the others'.
  const auto text_of = [](int r) { return r == 0 ? std::string() : "rank " + std::to_string(r) + std::string(size_t(r) * 1000, 'x'); };
  const std::vector<std::string> all = dist::all_gather(text_of(me()));
  ASSERT_EQ(all.size(), static_cast<size_t>(ranks()));
  for (int r = 0; r < ranks(); ++r) EXPECT_EQ(all[static_cast<size_t>(r)], text_of(r)) << "rank " << r;
}

TEST(Dist, BroadcastCopiesTheRootsTensorAndBytes) {
  const int root = ranks() - 1;
  tg::Tensor t = tg::full({2, 3}, static_cast<double>(me() + 7));
  dist::broadcast(t, root);
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, static_cast<float>(root + 7));
  std::vector<uint8_t> bytes(static_cast<size_t>(me() + 1), static_cast<uint8_t>(me()));  // other sizes
  dist::broadcast(bytes, root);
  EXPECT_EQ(bytes, std::vector<uint8_t>(static_cast<size_t>(root + 1), static_cast<uint8_t>(root)));
}

// Rank r's gradients are (r + 1) * base and its weight (r + 1) / triangle, so the weighted sum is
// base * sum (r + 1)^2 / triangle; the weights are not exact in binary, hence a tolerance of a
// few float32 roundings.
struct Params {
  tg::Tensor small = tg::zeros({3}).requires_grad(true);              // packed with `other`
  tg::Tensor other = tg::zeros({2, 2}, tg::Dtype::f32).requires_grad(true);
  tg::Tensor big = tg::zeros({300, 300}).requires_grad(true);         // 360 KB: its own message by default
  tg::Tensor wide = tg::zeros({5}, tg::Dtype::f64).requires_grad(true);  // another dtype: another bucket
  std::vector<tg::Tensor> all() const { return {small, other, big, wide}; }
};

// The tensors a rank with an empty batch has no gradient for: one packed, one summed in place.
bool skippable(const tg::Tensor& t) { return t.numel() == 3 || t.numel() == 90000; }

void set_gradients(const Params& p, bool skip) {
  const double k = me() + 1;
  for (const tg::Tensor& t : p.all()) {
    tg::Tensor x = t;
    if (skip && skippable(x)) {
      x.set_grad(tg::Tensor());  // this rank's batch gave it no gradient
      continue;
    }
    std::vector<double> g(static_cast<size_t>(x.numel()));
    for (size_t i = 0; i < g.size(); ++i) g[i] = k * (static_cast<double>(i % 7) - 3.0);
    x.set_grad(tg::from_vector(g, x.shape().vec(), x.dtype()));
  }
}

void expect_weighted_mean(const Params& p, bool rank0_skipped, const std::string& how) {
  double squares = 0;  // sum over ranks of weight * (rank + 1) with weight (rank + 1) / triangle
  for (int r = 0; r < ranks(); ++r) squares += (r + 1.0) * (r + 1.0);
  for (const tg::Tensor& t : p.all()) {
    ASSERT_TRUE(t.has_grad()) << how << ": tensor of shape " << t.shape().str() << " has no gradient";
    const std::vector<double> g = t.grad().to_vector<double>();
    double factor = squares / triangle();
    if (rank0_skipped && skippable(t)) factor = (squares - 1.0) / triangle();
    for (size_t i = 0; i < g.size(); ++i) {
      const double want = factor * (static_cast<double>(i % 7) - 3.0);
      EXPECT_NEAR(g[i], want, 1e-6 * (1 + std::abs(want))) << how << ": shape " << t.shape().str() << " element " << i;
    }
  }
}

TEST(GradientAverager, WeightedSumOverRanksWhateverTheBucketing) {
  const std::vector<std::pair<std::string, dist::GradientAveragerOptions>> policies = {
      {"default", {}},
      {"every gradient packed", {.in_place_bytes = SIZE_MAX}},
      {"every gradient in place", {.in_place_bytes = 0}},
      {"one gradient per bucket", {.bucket_bytes = 1, .in_place_bytes = SIZE_MAX}},
  };
  for (const auto& [how, options] : policies) {
    Params p;
    dist::GradientAverager averager(p.all(), options);
    set_gradients(p, false);
    averager.average((me() + 1) / triangle());
    expect_weighted_mean(p, false, how);
    // Rank 0 has no gradient for two of them: zeros there, and the others' sum afterwards.
    set_gradients(p, me() == 0);
    averager.average((me() + 1) / triangle());
    expect_weighted_mean(p, true, how + ", rank 0 without a gradient");
    EXPECT_EQ(averager.bytes(), size_t{(3 + 4 + 90000) * 4 + 5 * 8});
  }
}

TEST(GradientAverager, MessagesFollowThePolicy) {
  Params p;
  EXPECT_EQ(dist::GradientAverager(p.all()).buckets(), 3u);  // {small, other}, big in place, {wide}
  EXPECT_EQ(dist::GradientAverager(p.all(), {.in_place_bytes = SIZE_MAX}).buckets(), 2u);  // one per dtype
  EXPECT_EQ(dist::GradientAverager(p.all(), {.in_place_bytes = 0}).buckets(), 4u);
  EXPECT_EQ(dist::GradientAverager(p.all(), {.bucket_bytes = 1, .in_place_bytes = SIZE_MAX}).buckets(), 4u);
}

TEST(GradientAverager, PlainAverageIsTheMean) {
  Params p;
  dist::GradientAverager averager(p.all());
  set_gradients(p, false);
  averager.average();
  for (const tg::Tensor& t : p.all()) {
    const std::vector<double> g = t.grad().to_vector<double>();
    for (size_t i = 0; i < g.size(); ++i) {
      const double want = triangle() / ranks() * (static_cast<double>(i % 7) - 3.0);
      EXPECT_NEAR(g[i], want, 1e-6 * (1 + std::abs(want))) << "element " << i;
    }
  }
}

TEST(GradientAverager, RefusesBadParameters) {
  const std::string no_grad = message_of([] { dist::GradientAverager a({tg::zeros({2})}); });
  EXPECT_NE(no_grad.find("parameter 0 is undefined or does not require gradients"), std::string::npos) << no_grad;
  const std::string zero = message_of([] { dist::GradientAverager a({tg::zeros({2}).requires_grad(true)}, {.bucket_bytes = 0}); });
  EXPECT_NE(zero.find("bucket_bytes must be positive"), std::string::npos) << zero;
}

TEST(BroadcastState, CopiesRankZerosWeights) {
  tg::nn::manual_seed(static_cast<uint64_t>(100 + me()));  // a different initialisation per rank
  tg::nn::Linear model(3, 2);
  dist::broadcast_state(model);
  tg::nn::manual_seed(100);
  tg::nn::Linear rank0(3, 2);
  EXPECT_EQ(model.weight().to_vector<float>(), rank0.weight().to_vector<float>());
  EXPECT_EQ(model.bias().to_vector<float>(), rank0.bias().to_vector<float>());
}

TEST(BroadcastState, EveryRankNamesTheRankWithAnotherModel) {
  if (ranks() < 2) GTEST_SKIP() << "needs two ranks (ctest runs this program under mpirun too)";
  tg::nn::Linear model(3, me() == 1 ? 5 : 4);
  const std::string m = message_of([&] { dist::broadcast_state(model); });
  EXPECT_NE(m.find("rank 1 has another model than rank 0"), std::string::npos) << m;
  EXPECT_NE(m.find("rank 1 has parameter 'weight' float32 [3, 5] where rank 0 has parameter 'weight' float32 [3, 4]"),
            std::string::npos)
      << m;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Started by mpirun: one rank of a job. Started directly: a plain process, without MPI_Init
  // (the one-process semantics every collective has then).
  if (!dist::launched()) return RUN_ALL_TESTS();
  dist::Environment env(&argc, &argv);
  return RUN_ALL_TESTS();
}
