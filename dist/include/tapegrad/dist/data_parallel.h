#pragma once
/// \file data_parallel.h
/// Data-parallel training: every rank holds the same model, trains it on its own slice of each
/// batch, and averages the gradients before the optimizer step, so that the ranks' weights stay
/// identical (as PyTorch's DistributedDataParallel and Horovod do).
///
///     tg::dist::Environment env(&argc, &argv);
///     tg::dist::broadcast_state(model);                 // rank 0's initial weights everywhere
///     tg::dist::GradientAverager averager(model.parameters());
///     for (...) {
///       opt.zero_grad();
///       loss.backward();
///       averager.average();                             // before the step, on every rank
///       opt.step();
///     }
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tapegrad/core/tensor.h"
#include "tapegrad/data/loader.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::dist {

/// Copies rank `root`'s parameters and buffers into `model` on every rank. First checks that every
/// rank has the same model (names, dtypes and shapes of its parameters and buffers, in order):
/// otherwise every rank throws the same tg::Error, naming the ranks and the first tensor that
/// differs.
void broadcast_state(nn::Module& model, int root = 0);
/// Copies rank `root`'s buffers (BatchNorm's running statistics) into `model` on every rank, so
/// that evaluation and checkpoints see one set; the layout is not checked again.
void broadcast_buffers(nn::Module& model, int root = 0);

/// Checks that `loader` gives this rank its share of the same batches as every other rank's: the
/// same number of examples, batch_size, drop_last, shuffle, seed and epoch, with replicas equal
/// to size() and rank equal to rank(). Otherwise the ranks would take different numbers of steps
/// and one would wait in a collective forever; instead every rank throws the same tg::Error naming
/// the first rank and setting that differ. One small all_gather: call it after set_epoch().
void check_loader(const data::DataLoader& loader);

/// How a GradientAverager groups gradients into messages.
struct GradientAveragerOptions {
  /// Bytes per message (bucket): the gradients smaller than in_place_bytes are packed in order
  /// into buckets of about this size (one larger than a bucket has one of its own).
  size_t bucket_bytes = size_t{4} << 20;
  /// A gradient of at least this many bytes is a message of its own, summed in place in the
  /// gradient tensor, without being copied into a bucket and back. Over shared memory a message
  /// costs about 4 us while copying the 784-512-512-10 MLP's 2.7 MB of gradients in and out cost
  /// 0.55 ms a step (docs/performance.md); set it to SIZE_MAX to pack every gradient.
  size_t in_place_bytes = size_t{256} << 10;
};

/// Averages the gradients of a fixed list of parameters across ranks, in buckets of a few MB.
class GradientAverager {
 public:
  /// An averager of `parameters`' gradients, which must be the same list (same shapes and dtypes,
  /// in the same order) on every rank, as model.parameters() of one model is, with options that
  /// plan the same messages. Both are checked here (a collective: call it on every rank); on a
  /// mismatch every rank throws the same tg::Error naming the ranks and what differs.
  explicit GradientAverager(std::vector<Tensor> parameters, GradientAveragerOptions options = {});

  /// Replaces every parameter's gradient by the mean of the ranks' gradients, in place (a copy of
  /// p.grad() taken before sees the mean too). Call it on every rank after backward() and before
  /// the optimizer step. A parameter without a gradient on a rank (a rank whose batch was empty)
  /// counts as zeros there, and has the average afterwards.
  void average();
  /// Replaces every gradient by sum over ranks of weight * gradient: with weight = this rank's
  /// examples / the examples of all ranks, the gradient of a mean loss over all of them, however
  /// unevenly the last batch was split. The weights should sum to 1 across ranks.
  void average(double weight);

  /// The number of messages per average(): the buckets of packed gradients, and the gradients
  /// summed in place.
  size_t buckets() const { return buckets_.size(); }
  /// Bytes of gradient sent per average().
  size_t bytes() const { return bytes_; }
  /// Seconds the last average() took (packing, the allreduce and unpacking).
  double last_seconds() const { return last_seconds_; }

 private:
  struct Bucket {
    Dtype dtype;
    std::vector<size_t> params;  // indices into params_
    int64_t numel = 0;
    bool in_place = false;        // one gradient, summed where it is
    std::vector<uint8_t> buffer;  // the packed gradients (empty if in_place)
  };
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  size_t bytes_ = 0;
  double last_seconds_ = 0;
};

}  // namespace tapegrad::dist
