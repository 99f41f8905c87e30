#pragma once
/// \file trainer.h
/// One epoch of mini-batch training, and the loss and accuracy on a dataset.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// What an epoch of training measured.
struct EpochTotals {
  double mean_loss = 0;  ///< mean of the batch losses, weighted by batch size
  double accuracy = 0;   ///< fraction classified right, each batch measured before its update
  int64_t samples = 0;   ///< examples seen (by all ranks)
  double allreduce_seconds = 0;  ///< this rank's time in GradientAverager::average over the epoch
};

/// Called after each batch with (batches done, examples seen, running mean loss).
using ProgressFn = std::function<void(int64_t, int64_t, double)>;

/// The forward of a training step: the model's logits and their softmax cross-entropy. Compiled
/// (tg::CompiledCache: once for the full batches, once for a smaller last one) and replayed, or run
/// eagerly; the weights come out bit for bit the same either way.
class TrainStep {
 public:
  /// The step of `model`, compiled when `compile` is true.
  TrainStep(tapegrad::nn::Module& model, bool compile);
  /// The loss of `images` ([b, features]) against `labels` (b class indices, in the images' dtype).
  tapegrad::Tensor loss(const tapegrad::Tensor& images, const tapegrad::Tensor& labels);
  /// The logits of the last loss() (compiled: the step's own tensor, rewritten by the next call).
  const tapegrad::Tensor& logits() const { return logits_.at(rows_); }
  /// Whether the step replays a compiled tape.
  bool compiled() const { return steps_.has_value(); }

 private:
  tapegrad::Tensor forward(const std::vector<tapegrad::Tensor>& in);
  tapegrad::nn::Module& model_;
  // Each compiled step (one per batch size) computes its own logits tensor, rewritten by its replays.
  std::map<int64_t, tapegrad::Tensor> logits_;
  int64_t rows_ = 0;  // the batch size of the last loss()
  std::optional<tapegrad::CompiledCache> steps_;
};

/// Trains `model` for one pass over `loader`'s current epoch (the caller calls set_epoch):
/// forward, softmax cross-entropy, backward, optimizer step, per batch, through `step`. With an
/// `averager` (data-parallel: `loader` gives this rank's share of each batch), the gradients are
/// averaged across ranks, each rank weighted by its share, between backward and the step; the
/// totals are then those of all ranks (the progress callback sees this rank's).
EpochTotals train_epoch(TrainStep& step, tapegrad::nn::Module& model, tapegrad::optim::Optimizer& optimizer,
                        const tapegrad::data::DataLoader& loader, const ProgressFn& progress = {},
                        tapegrad::dist::GradientAverager* averager = nullptr);
/// The same with a compiled step of its own.
EpochTotals train_epoch(tapegrad::nn::Module& model, tapegrad::optim::Optimizer& optimizer,
                        const tapegrad::data::DataLoader& loader, const ProgressFn& progress = {});

/// What an evaluation measured.
struct Evaluation {
  double loss = 0;      ///< mean softmax cross-entropy over the examples
  double accuracy = 0;  ///< fraction classified right
};

/// The mean loss and the accuracy of `model` on `data`, in eval mode under NoGradGuard, in chunks
/// of `batch` examples; restores the model's train/eval mode afterwards. `sharded`: each rank of
/// the tg::dist job evaluates its share of every chunk and the counts are summed across ranks.
Evaluation evaluate(tapegrad::nn::Module& model, const tapegrad::data::Dataset& data, int64_t batch = 1000,
                    bool sharded = false);

}  // namespace tapegrad_train
