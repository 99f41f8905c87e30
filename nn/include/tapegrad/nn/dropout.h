#pragma once
/// \file dropout.h
/// Inverted dropout.
#include <string>

#include "tapegrad/core/generator.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// In training mode zeroes each element with probability p and scales the rest by 1 / (1 - p),
/// so the expected output equals the input; in evaluation mode the identity. The mask is drawn
/// from a generator (default_generator() unless one is given) and applied as a mul by a constant
/// tensor, so the gradient is the same mask.
class Dropout : public Module {
 public:
  /// Drop probability 0.5, from default_generator().
  Dropout() : Dropout(0.5) {}
  /// Drop probability `p` in [0, 1]; masks come from `gen` (kept by pointer; it must outlive the
  /// layer) or from this thread's default_generator() when null. Throws tg::Error for p outside [0, 1].
  explicit Dropout(double p, Generator* gen = nullptr);
  /// x * mask / (1 - p) in training mode (all zeros for p = 1); x in evaluation mode.
  Tensor forward(const Tensor& x) override;
  /// "Dropout".
  std::string name() const override { return "Dropout"; }
  /// "Dropout(p=0.5)".
  std::string str() const override;
  /// The drop probability.
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace tapegrad::nn
