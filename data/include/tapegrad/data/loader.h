#pragma once
/// \file loader.h
/// Mini-batches over a Dataset in a seeded, per-epoch shuffled order.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/tensor.h"
#include "tapegrad/data/mnist.h"

namespace tapegrad::data {

/// One mini-batch: `images` is [b, features], `labels` has b entries.
struct Batch {
  /// Features of the batch's examples, shape [b, features], in DataLoaderOptions::dtype.
  Tensor images;
  /// Classes of the batch's examples.
  std::vector<int64_t> labels;
  /// Number of examples in the batch.
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

/// How a DataLoader batches and orders a dataset.
struct DataLoaderOptions {
  /// Examples per batch (the last batch may be smaller unless drop_last).
  int64_t batch_size = 64;
  /// Visit the examples in a shuffled order (else in dataset order).
  bool shuffle = true;
  /// Seed of the shuffle; with the epoch it fully determines the order.
  uint64_t seed = 0;
  /// Skip the last batch if it would be smaller than batch_size.
  bool drop_last = false;
  /// Element type of Batch::images.
  Dtype dtype = Dtype::f32;
  /// Data-parallel training (the distributed sampler): the number of ranks sharing each batch.
  /// A batch of the epoch is then batch_size * replicas examples of the shuffled order, the same
  /// on every rank; rank r takes its examples r, r + replicas, r + 2 * replicas, ... So the ranks
  /// together visit exactly the batches one process with batch_size * replicas would, and every
  /// rank has the same number of batches; in the last, smaller one the ranks' shares differ by at
  /// most one example (a share may be empty). drop_last drops that batch on every rank.
  int64_t replicas = 1;
  /// This rank's share of each batch, 0 to replicas - 1.
  int64_t rank = 0;
};

/// Iterates a Dataset in mini-batches. The order of epoch e is a Fisher–Yates shuffle drawn
/// from a Generator seeded by (seed, e) alone, so it is the same in every run and a resumed
/// run reproduces it by calling set_epoch(e). The loader does not advance the epoch by itself:
/// call set_epoch(e) at the start of each epoch (as with PyTorch's DistributedSampler).
///
///     DataLoader loader(train, {.batch_size = 128, .seed = 42});
///     for (int64_t e = 0; e < epochs; ++e) {
///       loader.set_epoch(e);
///       for (const Batch& b : loader) { ... }
///     }
class DataLoader {
 public:
  /// A loader over `dataset` (its storage shared, not copied, unless options.dtype differs
  /// from the images' dtype, in which case the images are converted once here). Throws if batch_size < 1, if the images
  /// are not a defined rank-2 tensor, or if their row count differs from the label count.
  DataLoader(Dataset dataset, DataLoaderOptions options);
  /// Same as the options form: DataLoaderOptions{batch_size, shuffle, seed, drop_last}.
  DataLoader(Dataset dataset, int64_t batch_size, bool shuffle = true, uint64_t seed = 0, bool drop_last = false);

  /// Number of batches per epoch: the same on every rank when every rank's loader has the same
  /// number of examples and options (tg::dist::check_loader checks it across the ranks).
  int64_t size() const;
  /// Examples in batch `i` across all ranks (batch_size * replicas but for the last batch): with
  /// batch(i).size(), the weight of this rank's share in the batch's mean.
  int64_t global_batch_size(int64_t i) const;
  /// Batch `i` (0 <= i < size()) of the current epoch; throws if out of range.
  Batch batch(int64_t i) const;
  /// Selects epoch `e`, recomputing the shuffled order for it (no effect without shuffle).
  void set_epoch(int64_t e);
  /// The current epoch (0 until set_epoch is called).
  int64_t epoch() const { return epoch_; }
  /// The example indices of the current epoch, in visiting order.
  const std::vector<int64_t>& order() const { return order_; }
  /// The dataset being iterated.
  const Dataset& dataset() const { return dataset_; }
  /// The options the loader was built with.
  const DataLoaderOptions& options() const { return options_; }

  /// Input iterator over the current epoch's batches; dereferencing assembles the batch.
  class iterator {
   public:
    /// Iterator category (single pass: each dereference builds a new Batch).
    using iterator_category = std::input_iterator_tag;
    /// Element type.
    using value_type = Batch;
    /// Index difference type.
    using difference_type = std::ptrdiff_t;
    /// Batches are returned by value.
    using reference = Batch;
    /// Not used; required by iterator_traits.
    using pointer = void;
    /// An iterator at batch `index` of `loader`.
    iterator(const DataLoader* loader, int64_t index) : loader_(loader), index_(index) {}
    /// Assembles the current batch.
    Batch operator*() const { return loader_->batch(index_); }
    /// Advances to the next batch.
    iterator& operator++() {
      ++index_;
      return *this;
    }
    /// True if both point at the same batch.
    bool operator==(const iterator& o) const { return index_ == o.index_ && loader_ == o.loader_; }

   private:
    const DataLoader* loader_;
    int64_t index_;
  };
  /// First batch of the current epoch.
  iterator begin() const { return iterator(this, 0); }
  /// One past the last batch of the current epoch.
  iterator end() const { return iterator(this, size()); }

 private:
  Dataset dataset_;
  DataLoaderOptions options_;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace tapegrad::data
