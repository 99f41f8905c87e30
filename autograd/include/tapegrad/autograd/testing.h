#pragma once
/// \file testing.h
/// The op registry: every built-in op, once, with a generator of sample inputs, so the test
/// suite can gradient-check all of them (the idea of PyTorch's OpInfo). Register a user-defined
/// tg::Function here with its own samples, and the same loop checks it like a built-in op.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/core/shape.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// One set of inputs for an op, with a note saying what it exercises.
struct OpSample {
  std::vector<Tensor> inputs;  ///< the op's tensor arguments, in order
  std::string note;            ///< e.g. "broadcast [3,1] with [4]"
};

/// Makes sample inputs for one op in the given dtype (values away from the op's kinks).
using SampleInputs = std::function<std::vector<OpSample>(Dtype, Generator&)>;

/// A registered op: its public name, how to call it on a list of tensors, and sample inputs.
struct OpEntry {
  std::string name;  ///< the public function's name, as declared in ops.h
  std::string variant = {};  ///< which overload or argument set ("axis=1, keepdim"); empty if there is one
  std::function<Tensor(const std::vector<Tensor>&)> fn;  ///< calls the op
  SampleInputs samples;  ///< inputs away from kinks
  bool differentiable = true;  ///< false for argmax, comparisons and other non-recorded helpers
  std::vector<size_t> nondiff_inputs = {};  ///< inputs that are data, not variables (labels)
  double eps = 1e-6;  ///< finite-difference step (larger for ops that round to float32)
  /// The op's gradient is zero wherever it is defined, on purpose (sign): its checks compare
  /// only zeros, which is accepted instead of reported vacuous.
  bool zero_gradient = false;
  /// Variables whose gradient is zero by construction (the input x of tanh_backward(g, x, y),
  /// which reads only y; a pooling window's winners, which small changes do not move): gradcheck
  /// leaves them out, since comparing zeros with zeros proves nothing. Unlike nondiff_inputs
  /// they are not data: the node keeps them, and the other checks treat them as variables.
  std::vector<size_t> zero_gradient_inputs = {};
  /// The op's products follow tg::AutocastGuard (bfloat16 operands, float32 accumulation): its
  /// float32 samples are also run under the guard, against float64 within bfloat16's precision,
  /// and compiled against eager.
  bool autocast = false;
};

/// All registered ops, in registration order.
const std::vector<OpEntry>& op_registry();

/// Adds `entry` to the registry (built-in ops are added by their definitions; a user adds their
/// tg::Function, as a lambda calling it, with samples of their own).
void register_op(OpEntry entry);

/// Adds an entry at static-initialisation time, for ops composed of other ops (mse_loss).
struct RegisterOp {
  /// Registers `entry`.
  explicit RegisterOp(OpEntry entry);
};

/// The outcome of one of check_op's checks.
struct OpCheck {
  std::string label;   ///< "tanh on matrix: gradcheck float64" and the like
  bool ok = false;     ///< the check passed
  std::string detail;  ///< the gradcheck report, or the elements that disagree
};

/// The checks the test suite runs on every registered op, for one entry: on each float64 sample,
/// gradcheck of the whole function and of every node on its tape (a check that compares no node
/// fails, and so does one whose derivatives are all zero), gradgradcheck likewise (second
/// derivatives; an input whose second derivative is zero, as for a linear op, is accepted, but the
/// first derivative must not be), and that a NaN in any input element comes out NaN in every output and gradient
/// element that depends on its value; on each float32 sample, backprop in float32 against
/// backprop in float64. In both dtypes, a compiled call of the op replayed at other samples gives
/// bitwise its eager output and gradients. For an entry that is not differentiable, that it runs and records nothing. Throws tg::Error if the entry
/// yields no samples, so a check never passes vacuously.
std::vector<OpCheck> check_op(const OpEntry& entry, uint64_t seed = 1234);

/// Helpers for sample generators.
namespace samples {
/// Standard normal values of `shape`.
Tensor normal(const Shape& shape, Dtype dtype, Generator& gen);
/// Uniform values in [lo, hi).
Tensor uniform(const Shape& shape, double lo, double hi, Dtype dtype, Generator& gen);
/// Normal values pushed at least `gap` away from `kink` (for relu, abs, max ties).
Tensor away_from(const Shape& shape, double kink, double gap, Dtype dtype, Generator& gen);
}  // namespace samples

}  // namespace tapegrad
