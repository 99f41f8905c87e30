#pragma once
/// \file trainer.h
/// One epoch of mini-batch training, and the loss and accuracy on a dataset.
#include <cstdint>
#include <functional>
#include <map>
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

/// A training step on one batch: the model's logits, their softmax cross-entropy, the backward,
/// the gradient average of a data-parallel job and the optimizer's update. Compiled
/// (tg::compile_step: one compiled step for the full batches, one for a smaller last one) or run
/// eagerly; the weights come out bit for bit the same either way. Holds a pointer to itself in
/// its compiled step, so it is neither copied nor moved.
class TrainStep {
 public:
  /// The step of `model` updated by `optimizer`, compiled when `compile` is true; its forward
  /// runs under tg::AutocastGuard(precision) (bf16: mixed precision; f32: none).
  TrainStep(tapegrad::nn::Module& model, tapegrad::optim::Optimizer& optimizer, bool compile,
            tapegrad::Dtype precision = tapegrad::Dtype::f32);
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  /// Trains on `images` ([b, features]) against `labels` (b class indices, in the images' dtype)
  /// and returns the loss before the update (compiled: the step's tensor, rewritten by the next
  /// call). With an `averager`, the gradients are averaged with this rank's `weight` between the
  /// backward and the update.
  tapegrad::Tensor train(const tapegrad::Tensor& images, const tapegrad::Tensor& labels,
                         tapegrad::dist::GradientAverager* averager = nullptr, double weight = 1);
  /// The step of a rank whose share of a short last batch is empty: no forward and no gradient,
  /// but it joins `averager`'s average with weight 0 and updates with the other ranks (eagerly).
  void train_empty_share(tapegrad::dist::GradientAverager* averager);
  /// The logits of the last train() (compiled: the step's own tensor, rewritten by the next call).
  const tapegrad::Tensor& logits() const { return logits_.at(rows_); }
  /// Whether the step runs compiled.
  bool compiled() const { return compile_; }

 private:
  tapegrad::Tensor forward(const std::vector<tapegrad::Tensor>& in);
  void average();
  tapegrad::nn::Module& model_;
  tapegrad::optim::Optimizer& optimizer_;
  bool compile_;
  tapegrad::Dtype precision_;
  // Each compiled step (one per batch size) computes its own logits tensor, rewritten by its replays.
  std::map<int64_t, tapegrad::Tensor> logits_;
  int64_t rows_ = 0;  // the batch size of the last train()
  // What the compiled step's before_update hook averages with: set by each train() call.
  tapegrad::dist::GradientAverager* averager_ = nullptr;
  double weight_ = 1;
  tapegrad::CompiledStep step_;  // made at the first train(), which gives it its example inputs
};

/// Trains `model` for one pass over `loader`'s current epoch (the caller calls set_epoch):
/// forward, softmax cross-entropy, backward, optimizer step, per batch, through `step`. With an
/// `averager` (data-parallel: `loader` gives this rank's share of each batch), the gradients are
/// averaged across ranks, each rank weighted by its share, between backward and the step; the
/// totals are then those of all ranks (the progress callback sees this rank's). A loss that is not
/// finite throws std::runtime_error after its batch's update: the weights are then not usable.
EpochTotals train_epoch(TrainStep& step, tapegrad::nn::Module& model, const tapegrad::data::DataLoader& loader,
                        const ProgressFn& progress = {}, tapegrad::dist::GradientAverager* averager = nullptr);
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
/// `precision` bf16: under tg::AutocastGuard, as the model trained.
Evaluation evaluate(tapegrad::nn::Module& model, const tapegrad::data::Dataset& data, int64_t batch = 1000,
                    bool sharded = false,
                    tapegrad::Dtype precision = tapegrad::Dtype::f32);

}  // namespace tapegrad_train
