#include "tapegrad/data/loader.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "tapegrad/core/error.h"
#include "tapegrad/core/generator.h"

namespace tapegrad::data {
namespace {

// SplitMix64 finaliser: turns (seed, epoch) into well-separated generator seeds, so that
// nearby seeds or epochs do not give correlated Mersenne Twister states.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

DataLoader::DataLoader(Dataset dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  if (options_.batch_size < 1)
    throw Error("DataLoader: batch_size must be at least 1, got " + std::to_string(options_.batch_size));
  if (options_.replicas < 1 || options_.rank < 0 || options_.rank >= options_.replicas)
    throw Error("DataLoader: rank must be in [0, replicas) and replicas at least 1, got rank " +
                std::to_string(options_.rank) + " of " + std::to_string(options_.replicas) + " replicas");
  if (options_.batch_size > std::numeric_limits<int64_t>::max() / options_.replicas)
    throw Error("DataLoader: batch_size " + std::to_string(options_.batch_size) + " times " +
                std::to_string(options_.replicas) + " replicas overflows");
  if (!dataset_.images.defined() || dataset_.images.dim() != 2)
    throw Error("DataLoader: images must be a rank-2 tensor [N, features]");
  if (dataset_.images.size(0) != dataset_.size())
    throw Error("DataLoader: images has " + std::to_string(dataset_.images.size(0)) + " rows but there are " +
                std::to_string(dataset_.size()) + " labels");
  // Convert once here rather than per batch (a no-op share when the dtype already matches).
  if (dataset_.images.dtype() != options_.dtype) dataset_.images = dataset_.images.to(options_.dtype).detach();
  set_epoch(0);
}

DataLoader::DataLoader(Dataset dataset, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last)
    : DataLoader(std::move(dataset), DataLoaderOptions{batch_size, shuffle, seed, drop_last, Dtype::f32}) {}

int64_t DataLoader::size() const {
  const int64_t n = dataset_.size(), b = options_.batch_size * options_.replicas;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

int64_t DataLoader::global_batch_size(int64_t i) const {
  if (i < 0 || i >= size())
    throw Error("DataLoader::global_batch_size: index " + std::to_string(i) + " out of range for " +
                std::to_string(size()) + " batches");
  const int64_t b = options_.batch_size * options_.replicas;
  return std::min(b, dataset_.size() - i * b);
}

void DataLoader::set_epoch(int64_t e) {
  epoch_ = e;
  order_.resize(static_cast<size_t>(dataset_.size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (!options_.shuffle) return;
  Generator gen(mix(options_.seed ^ mix(static_cast<uint64_t>(e))));
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[gen.below(i)]);
}

Batch DataLoader::batch(int64_t i) const {
  if (i < 0 || i >= size())
    throw Error("DataLoader::batch: index " + std::to_string(i) + " out of range for " + std::to_string(size()) +
                " batches");
  // This rank's examples of the global batch at `begin`: every replicas-th, from its rank on.
  const int64_t w = options_.replicas;
  const int64_t begin = i * options_.batch_size * w + options_.rank;
  const int64_t m = global_batch_size(i);
  const int64_t b = m > options_.rank ? (m - options_.rank + w - 1) / w : 0;
  const int64_t f = dataset_.images.size(1);
  const Tensor& src = dataset_.images;
  Batch out;
  out.images = empty({b, f}, options_.dtype);
  out.labels.resize(static_cast<size_t>(b));
  const size_t row_bytes = static_cast<size_t>(f) * dtype_size(options_.dtype);
  const auto* from = static_cast<const uint8_t*>(src.raw_data());
  auto* to = static_cast<uint8_t*>(out.images.raw_data());
  for (int64_t r = 0; r < b; ++r) {
    const int64_t k = order_[static_cast<size_t>(begin + r * w)];
    if (row_bytes) std::memcpy(to + r * row_bytes, from + k * row_bytes, row_bytes);
    out.labels[static_cast<size_t>(r)] = dataset_.labels[static_cast<size_t>(k)];
  }
  return out;
}

}  // namespace tapegrad::data
