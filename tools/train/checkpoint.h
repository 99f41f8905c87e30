#pragma once
/// \file checkpoint.h
/// The run's checkpoint: model and optimizer state plus what is needed to continue the run.
#include <cstdint>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "metrics.h"

namespace tapegrad_train {

/// What a run is, beyond the tensors: enough to rebuild the model and optimizer and to continue
/// the shuffle order where it stopped.
struct RunState {
  int64_t epochs_done = 0;           ///< completed epochs
  uint64_t seed = 0;                 ///< seed of the weights and of the shuffle
  std::string model = "mlp";         ///< mlp, cnn, lstm or gru; checkpoints from before --model have no entry and are mlp
  std::vector<int64_t> hidden;       ///< hidden layer widths of the mlp (empty for the others)
  int64_t inputs = 0;                ///< features per example
  int64_t classes = 0;               ///< output width
  std::string optimizer;             ///< optimizer name (see make_optimizer)
  double lr = 0;                     ///< the learning rate the run started with
  std::string lr_schedule = "constant";  ///< constant or cosine; checkpoints from before --lr-schedule are constant
  int64_t total_epochs = 0;          ///< --epochs of the run that wrote it, which a cosine spans (0: not recorded)
  int64_t batch_size = 0;            ///< examples per mini-batch on each rank
  int64_t ranks = 1;                 ///< processes that trained it (data-parallel); checkpoints from before have no entry: 1
  int64_t limit = 0;                 ///< training examples used (0: all)
  std::string data_dir;              ///< where the data came from
  std::string precision = "f32";     ///< f32 or bf16 (autocast); checkpoints from before --precision are f32
  std::vector<EpochMetrics> history; ///< metrics of the completed epochs
};

/// The format tag written under "format" in the metadata.
inline constexpr const char* kCheckpointFormat = "tapegrad-train/1";

/// Saves model state, optimizer state and `state` (as metadata) atomically to `path`.
void save_run(const std::string& path, const tapegrad::nn::Module& model, const tapegrad::optim::Optimizer& optimizer,
              const RunState& state);

/// A loaded checkpoint: the run state and the tensors, not yet applied to a model.
struct LoadedRun {
  RunState state;                 ///< from the metadata
  tapegrad::io::Checkpoint tensors;  ///< model and optimizer state dicts
};

/// Loads a checkpoint written by save_run; throws std::runtime_error naming the file and the
/// missing or malformed entry.
LoadedRun load_run(const std::string& path);

/// The same from the checkpoint file's bytes (read by rank 0 and broadcast: the other ranks need
/// not see its file system); `path` is used in errors.
LoadedRun parse_run(const std::vector<uint8_t>& bytes, const std::string& path);

/// The run state in a checkpoint's metadata, checked as load_run does; `path` is used in errors.
LoadedRun read_run(tapegrad::io::Checkpoint tensors, const std::string& path);

/// Loads the checkpoint's model and optimizer state into `model` and `optimizer`, built from its
/// RunState; throws std::runtime_error naming `path` and the tensor that does not fit.
void restore_run(const tapegrad::io::Checkpoint& tensors, tapegrad::nn::Module& model,
                 tapegrad::optim::Optimizer& optimizer, const std::string& path);

}  // namespace tapegrad_train
