#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;
namespace td = tapegrad::data;

namespace {

// n examples with 3 features each; example i has features {i, i + 0.25, i + 0.5} and label i,
// so a batch shows exactly which examples it holds.
td::Dataset indexed_dataset(int64_t n) {
  std::vector<float> v;
  td::Dataset ds;
  for (int64_t i = 0; i < n; ++i) {
    v.insert(v.end(), {float(i), float(i) + 0.25f, float(i) + 0.5f});
    ds.labels.push_back(i);
  }
  ds.images = tg::from_vector(v, {n, 3});
  return ds;
}

// The labels of every batch of the current epoch, in visiting order, checking each batch's rows.
std::vector<int64_t> visit(const td::DataLoader& loader) {
  std::vector<int64_t> seen;
  for (const td::Batch& b : loader) {
    EXPECT_EQ(b.images.size(0), b.size());
    for (int64_t r = 0; r < b.size(); ++r) {
      EXPECT_EQ(b.images.at({r, 0}), double(b.labels[r]));
      EXPECT_EQ(b.images.at({r, 2}), double(b.labels[r]) + 0.5);
    }
    seen.insert(seen.end(), b.labels.begin(), b.labels.end());
  }
  return seen;
}

}  // namespace

TEST(DataLoader, CountsBatchesWithAndWithoutDropLast) {
  EXPECT_EQ(td::DataLoader(indexed_dataset(10), 3).size(), 4);
  EXPECT_EQ(td::DataLoader(indexed_dataset(10), 3, true, 0, true).size(), 3);
  EXPECT_EQ(td::DataLoader(indexed_dataset(9), 3, true, 0, true).size(), 3);
  EXPECT_EQ(td::DataLoader(indexed_dataset(0), 3).size(), 0);
  td::DataLoader loader(indexed_dataset(10), 3);
  EXPECT_EQ(loader.batch(3).size(), 1);
  EXPECT_EQ(loader.batch(0).images.shape(), (tg::Shape{3, 3}));
}

TEST(DataLoader, EachEpochVisitsEveryExampleOnce) {
  td::DataLoader loader(indexed_dataset(103), {.batch_size = 10, .seed = 5});
  for (int64_t e = 0; e < 3; ++e) {
    loader.set_epoch(e);
    std::vector<int64_t> seen = visit(loader);
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(103);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all) << "epoch " << e;
  }
}

TEST(DataLoader, OrderDependsOnlyOnSeedAndEpoch) {
  td::DataLoader a(indexed_dataset(50), {.batch_size = 8, .seed = 42});
  td::DataLoader b(indexed_dataset(50), {.batch_size = 8, .seed = 42});
  td::DataLoader other_seed(indexed_dataset(50), {.batch_size = 8, .seed = 43});
  EXPECT_EQ(visit(a), visit(b));
  EXPECT_NE(visit(a), visit(other_seed));
  const std::vector<int64_t> epoch0 = visit(a);
  a.set_epoch(1);
  const std::vector<int64_t> epoch1 = visit(a);
  EXPECT_NE(epoch0, epoch1) << "epochs must be reshuffled";
  a.set_epoch(7);
  const std::vector<int64_t> epoch7 = visit(a);
  // A resumed run (fresh loader) reproduces epoch 7 and epoch 1 exactly.
  td::DataLoader resumed(indexed_dataset(50), {.batch_size = 8, .seed = 42});
  resumed.set_epoch(7);
  EXPECT_EQ(visit(resumed), epoch7);
  resumed.set_epoch(1);
  EXPECT_EQ(visit(resumed), epoch1);
  EXPECT_EQ(resumed.epoch(), 1);
}

TEST(DataLoader, WithoutShuffleKeepsDatasetOrder) {
  td::DataLoader loader(indexed_dataset(7), {.batch_size = 2, .shuffle = false});
  loader.set_epoch(3);
  EXPECT_EQ(visit(loader), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(DataLoader, DropLastSkipsTheShortBatchAndDtypeConverts) {
  td::DataLoader loader(indexed_dataset(10), {.batch_size = 4, .seed = 1, .drop_last = true, .dtype = tg::Dtype::f64});
  EXPECT_EQ(visit(loader).size(), 8u);
  EXPECT_EQ(loader.batch(1).images.dtype(), tg::Dtype::f64);
}

TEST(DataLoader, RejectsBadArguments) {
  EXPECT_THROW(td::DataLoader(indexed_dataset(4), 0), tg::Error);
  td::Dataset bad = indexed_dataset(4);
  bad.labels.pop_back();
  EXPECT_THROW(td::DataLoader(bad, 2), tg::Error);
  td::DataLoader loader(indexed_dataset(4), 2);
  EXPECT_THROW(loader.batch(2), tg::Error);
  EXPECT_THROW(loader.batch(-1), tg::Error);
}
