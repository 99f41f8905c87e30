#pragma once
/// \file trainer.h
/// One epoch of mini-batch training, and the loss and accuracy on a dataset.
#include <cstdint>
#include <functional>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// What an epoch of training measured.
struct EpochTotals {
  double mean_loss = 0;  ///< mean of the batch losses, weighted by batch size
  double accuracy = 0;   ///< fraction classified right, each batch measured before its update
  int64_t samples = 0;   ///< examples seen
};

/// Called after each batch with (batches done, examples seen, running mean loss).
using ProgressFn = std::function<void(int64_t, int64_t, double)>;

/// Trains `model` for one pass over `loader`'s current epoch (the caller calls set_epoch):
/// forward, softmax cross-entropy, backward, optimizer step, per batch.
EpochTotals train_epoch(tapegrad::nn::Module& model, tapegrad::optim::Optimizer& optimizer,
                        const tapegrad::data::DataLoader& loader, const ProgressFn& progress = {});

/// What an evaluation measured.
struct Evaluation {
  double loss = 0;      ///< mean softmax cross-entropy over the examples
  double accuracy = 0;  ///< fraction classified right
};

/// The mean loss and the accuracy of `model` on `data`, in eval mode under NoGradGuard, in chunks
/// of `batch` examples; restores the model's train/eval mode afterwards.
Evaluation evaluate(tapegrad::nn::Module& model, const tapegrad::data::Dataset& data, int64_t batch = 1000);

}  // namespace tapegrad_train
