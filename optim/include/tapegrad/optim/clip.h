#pragma once
/// \file clip.h
/// Gradient clipping by total norm.
#include <limits>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad::optim {

/// Scales the gradients of `params` in place, as torch.nn.utils.clip_grad_norm_: the total
/// norm is the `norm_type`-norm of all gradient elements together (infinity: the largest |g|);
/// when total > max_norm every gradient is multiplied by max_norm / (total + 1e-6) (a NaN total
/// spreads NaN, as in PyTorch). Parameters without a
/// gradient are ignored. Returns the total norm before clipping (0 if no parameter has a
/// gradient). Throws tg::Error for norm_type <= 0, max_norm < 0, or, if `error_if_nonfinite`,
/// a total norm that is NaN or infinite.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                      bool error_if_nonfinite = false);

}  // namespace tapegrad::optim
