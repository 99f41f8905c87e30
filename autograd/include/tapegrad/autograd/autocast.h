#pragma once
/// \file autocast.h
/// bfloat16 mixed precision: matrix products and convolutions with bfloat16 operands and float32
/// accumulation, everything else in float32 (torch.autocast on CPU, for C++).
#include <string>

#include "tapegrad/core/dtype.h"

namespace tapegrad {

/// RAII: while alive, this thread's matmul, linear, conv2d (and their gradients, wherever the
/// backward pass runs) take bfloat16 operands and accumulate in float32, as under
/// `torch.autocast("cpu", dtype=torch.bfloat16)`. Their float32 inputs are rounded to bfloat16
/// (to nearest, ties to even) inside the op; their results are float32, and every other op stays
/// in float32, so parameters (master weights), losses and gradients stay float32 and the
/// optimizer updates in float32. float64 ops are left alone. `AutocastGuard(Dtype::f32)` turns
/// autocast off in its scope. Any other dtype is an error. gradcheck refuses to run inside.
class AutocastGuard {
 public:
  /// Autocast to `dtype` (bf16) on this thread until destroyed; f32 turns it off.
  explicit AutocastGuard(Dtype dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool previous_;
};

/// True while an AutocastGuard(Dtype::bf16) is alive on this thread.
bool autocast_enabled();

/// True when autocast's products run on the processor's bfloat16 units (AVX512-BF16 or AMX,
/// through oneDNN); false where they run in float32 on bfloat16-rounded values: the same
/// results up to float32 rounding, without the speed.
bool bf16_hardware();

/// Makes autocast's products use the processor's bfloat16 units wherever it has them (`true`), or
/// never (`false`: float32 on bfloat16-rounded values, as on a processor without them; to check
/// that path, or for results that do not depend on the processor). Until it is called, they use
/// the units where they are faster than float32: with AMX, and AVX512-BF16 on AMD processors;
/// not AVX512-BF16 alone on Intel processors, where oneDNN's bfloat16 products measured half as
/// fast as its float32 ones (docs/mixed-precision.md). Products already planned in a compiled
/// step keep their path.
void set_bf16_hardware(bool allowed);

/// Which path autocast's products take, for logs: "oneDNN on avx512_core_bf16 (bfloat16 units)",
/// or "float32 on bfloat16-rounded values (...)" with the reason.
std::string bf16_path();

}  // namespace tapegrad
