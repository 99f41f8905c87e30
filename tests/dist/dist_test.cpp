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

// A tensor collective checks the ranks' shapes and dtypes before the exchange: every rank throws
// the same error, and the job goes on in step (the sums after it are right).
TEST(Dist, TensorCollectivesRefuseRanksWithAnotherShapeOrDtype) {
  if (ranks() < 2) GTEST_SKIP() << "needs two ranks (ctest runs this program under mpirun too)";
  struct Case {
    std::string how, rank0, rest;
    tg::Tensor mine;
  };
  const bool first = me() == 0;
  const std::vector<Case> cases = {
      {"shape", "float32 [3, 2]", "float32 [2, 3]", tg::zeros(first ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{2, 3})},
      {"element count", "float32 [4]", "float32 [5]", tg::zeros({first ? 4 : 5})},
      {"dtype", "float32 [4]", "float64 [4]", tg::zeros({4}, first ? tg::Dtype::f32 : tg::Dtype::f64)},
  };
  for (const Case& c : cases) {
    for (const char* op : {"all_reduce_sum", "broadcast"}) {
      tg::Tensor t = c.mine;
      const std::string m = message_of([&] {
        if (std::string(op) == "broadcast") {
          dist::broadcast(t);
        } else {
          dist::all_reduce_sum(t);
        }
      });
      EXPECT_NE(m.find(std::string("tg::dist::") + op + ": the ranks' tensors differ: rank 0 has " + c.rank0),
                std::string::npos)
          << c.how << ": " << m;
      EXPECT_NE(m.find(c.rest + "; every rank must pass a tensor of the same shape and dtype"), std::string::npos)
          << c.how << ": " << m;
      if (ranks() == 2) {
        EXPECT_NE(m.find("; rank 1 has " + c.rest), std::string::npos) << c.how << ": " << m;
      }
      // The same text on every rank: rank 0's, sent to all.
      std::vector<uint8_t> bytes(m.begin(), m.end());
      dist::broadcast(bytes);
      EXPECT_EQ(m, std::string(bytes.begin(), bytes.end())) << "rank " << me() << " got another error";
    }
  }
  tg::Tensor ok = tg::full({2}, 1.0);
  dist::all_reduce_sum(ok);
  EXPECT_EQ(ok.to_vector<float>(), std::vector<float>(2, static_cast<float>(ranks())));
}

// Averagers whose options give other messages on another rank: refused at construction on every
// rank (each would otherwise sum buffers of other lengths: heap corruption, or a hang).
TEST(GradientAverager, RanksWithOtherOptionsAreRefusedAtConstruction) {
  if (ranks() < 2) GTEST_SKIP() << "needs two ranks (ctest runs this program under mpirun too)";
  Params p;
  const dist::GradientAveragerOptions packed{.in_place_bytes = SIZE_MAX};
  const dist::GradientAveragerOptions mine = me() == 1 ? packed : dist::GradientAveragerOptions{};
  const std::string m = message_of([&] { dist::GradientAverager a(p.all(), mine); });
  EXPECT_NE(m.find("tg::dist::GradientAverager: rank 1 plans other messages than rank 0 (2 against 3): message 0 of "
                   "rank 1 is float32 90007 elements packed, parameters 0 to 2 where rank 0's is float32 7 "
                   "elements packed, parameters 0 to 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("every rank must pass the same GradientAveragerOptions, but rank 1 has bucket_bytes 4194304, "
                   "in_place_bytes " + std::to_string(SIZE_MAX) + " and rank 0 has bucket_bytes 4194304, in_place_bytes 262144"),
            std::string::npos)
      << m;
  // Options that differ but plan the same messages are fine: the plan is what the ranks share.
  const dist::GradientAveragerOptions roomy{.bucket_bytes = me() == 1 ? size_t{8} << 20 : size_t{4} << 20};
  dist::GradientAverager same(p.all(), roomy);
  set_gradients(p, false);
  same.average((me() + 1) / triangle());
  expect_weighted_mean(p, false, "options that plan the same messages");
}

// A dataset of `n` examples of 2 features.
tg::data::Dataset examples(int64_t n) {
  tg::data::Dataset d;
  d.images = tg::zeros({n, 2});
  d.labels.assign(static_cast<size_t>(n), 0);
  return d;
}

tg::data::DataLoader loader_of(int64_t n, int64_t replicas, int64_t rank, int64_t epoch = 0) {
  tg::data::DataLoader l(examples(n), {.batch_size = 10, .seed = 3, .replicas = replicas, .rank = rank});
  l.set_epoch(epoch);
  return l;
}

// Loaders that would take other numbers of steps (or other examples) on another rank: every rank
// throws the same error naming the rank and the setting, instead of one waiting forever.
TEST(CheckLoader, RefusesLoadersThatDifferBetweenRanks) {
  const int64_t n = ranks(), r = me();
  dist::check_loader(loader_of(95, n, r));  // the same everywhere: no error
  if (ranks() < 2) {
    // In a job of one, a loader for two replicas is not this job's.
    const std::string m = message_of([] { dist::check_loader(loader_of(95, 2, 1)); });
    EXPECT_NE(m.find("rank 0's loader has replicas 2 and rank 1 although it is rank 0 of 1"), std::string::npos) << m;
    return;
  }
  const std::string size = message_of([&] { dist::check_loader(loader_of(me() == 1 ? 85 : 95, n, r)); });
  EXPECT_NE(size.find("tg::dist::check_loader: rank 1's loader has 85 examples where rank 0's has 95 examples"),
            std::string::npos)
      << size;
  const std::string epoch = message_of([&] { dist::check_loader(loader_of(95, n, r, me() == 1 ? 1 : 0)); });
  EXPECT_NE(epoch.find("rank 1's loader has epoch 1 where rank 0's has epoch 0"), std::string::npos) << epoch;
  const std::string share = message_of([&] { dist::check_loader(loader_of(95, 1, 0)); });
  EXPECT_NE(share.find("rank 0's loader has replicas 1 and rank 0 although it is rank 0 of " + std::to_string(n) +
                       "; build each rank's loader with .replicas = tg::dist::size(), .rank = tg::dist::rank()"),
            std::string::npos)
      << share;
  const std::string other = message_of([&] { dist::check_loader(loader_of(95, n, me() == 1 ? 0 : r)); });
  EXPECT_NE(other.find("rank 1's loader has replicas " + std::to_string(n) + " and rank 0 although it is rank 1 of"),
            std::string::npos)
      << other;
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
