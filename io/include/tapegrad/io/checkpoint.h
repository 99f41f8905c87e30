#pragma once
/// \file checkpoint.h
/// Training checkpoints: model and optimizer state in one safetensors file ("model." and
/// "optim." prefixes), which PyTorch's safetensors package reads too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tapegrad/core/tensor.h"
#include "tapegrad/io/safetensors.h"

namespace tapegrad::io {

/// A training checkpoint: model and optimizer state plus free-form metadata.
struct Checkpoint {
  /// The model's state_dict().
  NamedTensors model;
  /// The optimizer's state_dict().
  NamedTensors optimizer;
  /// Metadata such as the epoch or step, as strings.
  Metadata metadata;
};

/// Saves model and optimizer state into one safetensors file (atomically, as save_safetensors),
/// prefixing their names with "model." and "optim.".
void save_checkpoint(const std::string& path, const NamedTensors& model_state, const NamedTensors& optimizer_state,
                     const Metadata& metadata = {});

/// Loads a file written by save_checkpoint, splitting the tensors by their "model." and
/// "optim." prefixes (which are removed). Throws if a tensor has neither prefix.
Checkpoint load_checkpoint(const std::string& path);

/// Like load_checkpoint, from the `size` bytes of a file in memory; `name` is used in errors.
Checkpoint parse_checkpoint(const uint8_t* bytes, size_t size, const std::string& name);

}  // namespace tapegrad::io
