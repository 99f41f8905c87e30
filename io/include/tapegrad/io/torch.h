#pragma once
/// \file torch.h
/// Models that move between tapegrad and PyTorch: safetensors files laid out as the equivalent
/// torch.nn.Sequential's state_dict().
#include <string>

#include "tapegrad/nn/module.h"

namespace tapegrad::io {

/// Writes `module`'s parameters and buffers to `path` (atomically, as save_safetensors) under the
/// names, shapes, layouts and dtypes of the equivalent PyTorch module's state_dict(): a Linear's
/// weight transposed to [out, in], a Conv2d's weight [out, in, kh, kw], BatchNorm's running_mean,
/// running_var and num_batches_tracked (int64), in float32 or float64 as the module holds them.
/// The file loads into PyTorch with safetensors.torch.load_file and load_state_dict.
void save_torch_state_dict(const nn::Module& module, const std::string& path);

/// Reads a file laid out as save_torch_state_dict writes (from PyTorch's state_dict() saved by
/// safetensors.torch.save_file, say) into `module`'s parameters and buffers. Checks every entry
/// first and changes nothing on a mismatch: a missing, extra or mis-shaped tensor, or an
/// unsupported dtype, is a tg::Error naming the tensor and both shapes.
void load_torch_state_dict(nn::Module& module, const std::string& path);

}  // namespace tapegrad::io
