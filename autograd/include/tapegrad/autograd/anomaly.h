#pragma once
/// \file anomaly.h
/// Anomaly mode: stop at the first NaN or infinity a forward or backward produces.
#include <cstddef>

#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// True while an AnomalyGuard is alive on this thread.
bool anomaly_enabled();

/// RAII: while alive, every recorded op's output and every backward's input gradients are
/// checked for NaN and infinity on this thread; the first one found throws tg::Error naming
/// the op, its position on the tape and the shapes. Off by default: when off, the tape pays
/// one thread-local flag test per node.
class AnomalyGuard {
 public:
  /// Turns anomaly mode on (or off, with `on = false`) until destruction.
  explicit AnomalyGuard(bool on = true);
  ~AnomalyGuard();
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace tapegrad
