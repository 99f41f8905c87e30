#pragma once
/// \file generator.h
/// A seedable random number generator and the random tensor constructors.
#include <cstdint>
#include <random>

#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// A seedable source of random numbers. The same seed gives the same numbers on every
/// platform: the normal and uniform transforms are the library's own, not the standard
/// library's implementation-defined distributions.
class Generator {
 public:
  /// A generator started from `seed`.
  explicit Generator(uint64_t seed = 0) : engine_(seed) {}
  /// Restarts the sequence from `seed`.
  void seed(uint64_t seed) { engine_.seed(seed); has_spare_ = false; }
  /// Next raw 64-bit value.
  uint64_t next_u64() { return engine_(); }
  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform double in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal double (Box-Muller, polar form).
  double normal();
  /// Uniform integer in [0, n).
  uint64_t below(uint64_t n);

 private:
  std::mt19937_64 engine_;
  double spare_ = 0;
  bool has_spare_ = false;
};

/// Standard normal samples of `shape`.
Tensor randn(const Shape& shape, Generator& gen, Dtype dtype = Dtype::f32);
/// Uniform samples in [0, 1) of `shape`.
Tensor rand(const Shape& shape, Generator& gen, Dtype dtype = Dtype::f32);

}  // namespace tapegrad
