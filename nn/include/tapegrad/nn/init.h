#pragma once
/// \file init.h
/// Parameter initialisers and the per-thread default generator. Every initialiser writes in place
/// (through copy_ or fill_, so the version counter moves) with recording off, and returns its
/// tensor. Values are drawn in float64 and converted, so f32 and f64 tensors get the same draws
/// and a seed reproduces a run bit for bit. Fans follow tapegrad's weight layout {in, out}:
/// fan_in = shape[0] x r and fan_out = shape[1] x r, with r the product of any further dimensions.
#include <cstdint>

#include "tapegrad/core/generator.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad::nn {

/// This thread's default generator (seed 0 until manual_seed): used by layers and initialisers
/// when no generator is given. Each thread has its own, so threads never race on it.
Generator& default_generator();
/// Restarts this thread's default generator from `seed`.
void manual_seed(uint64_t seed);

namespace init {

/// Fan-in and fan-out of a weight of rank 2 or more, in the {in, out} layout.
struct Fans {
  int64_t in;   ///< shape[0] times the receptive field
  int64_t out;  ///< shape[1] times the receptive field
};
/// Fans of `t`; throws tg::Error for rank below 2.
Fans fans(const Tensor& t);

/// Fills `t` with samples of N(mean, std^2).
Tensor normal(Tensor t, double mean = 0.0, double std = 1.0, Generator& gen = default_generator());
/// Fills `t` with samples of U[lo, hi).
Tensor uniform(Tensor t, double lo = 0.0, double hi = 1.0, Generator& gen = default_generator());
/// Glorot: U(-b, b) with b = gain sqrt(6 / (fan_in + fan_out)); keeps activation and gradient
/// variance equal across layers for tanh-like units.
Tensor xavier_uniform(Tensor t, double gain = 1.0, Generator& gen = default_generator());
/// xavier_uniform with gain 1 and the generator `gen`.
Tensor xavier_uniform(Tensor t, Generator& gen);
/// Glorot: N(0, s^2) with s = gain sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal(Tensor t, double gain = 1.0, Generator& gen = default_generator());
/// xavier_normal with gain 1 and the generator `gen`.
Tensor xavier_normal(Tensor t, Generator& gen);
/// He: U(-b, b) with b = gain sqrt(3 / fan_in); the default gain sqrt(2) suits ReLU.
Tensor kaiming_uniform(Tensor t, double gain = 1.4142135623730951, Generator& gen = default_generator());
/// kaiming_uniform with gain sqrt(2) and the generator `gen`.
Tensor kaiming_uniform(Tensor t, Generator& gen);
/// He: N(0, s^2) with s = gain / sqrt(fan_in); the default gain sqrt(2) suits ReLU.
Tensor kaiming_normal(Tensor t, double gain = 1.4142135623730951, Generator& gen = default_generator());
/// kaiming_normal with gain sqrt(2) and the generator `gen`.
Tensor kaiming_normal(Tensor t, Generator& gen);
/// Sets every element to 0.
Tensor zeros(Tensor t);
/// Sets every element to `value`.
Tensor constant(Tensor t, double value);

}  // namespace init
}  // namespace tapegrad::nn
