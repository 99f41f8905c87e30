#pragma once
/// \file gradcheck.h
/// Numerical gradient checking: a whole function, and every node on its tape.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/core/shape.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// Settings of gradcheck.
struct GradcheckOptions {
  double eps = 1e-6;   ///< central-difference step
  double atol = 1e-5;  ///< absolute tolerance
  double rtol = 1e-3;  ///< relative tolerance: passes when |analytical - numerical| <= atol + rtol |numerical|
  /// Outputs with at most this many elements are checked row by row of the full Jacobian;
  /// larger ones through `projections` random directions.
  int64_t full_jacobian_limit = 64;
  int projections = 4;   ///< random directions for large outputs
  uint64_t seed = 0;     ///< seed of the random directions
  bool check_nodes = true;  ///< also check every node of the function's tape on its own
  std::vector<size_t> skip_inputs = {};  ///< inputs that are data, not variables (not perturbed)
  /// Also run the first backward twice and require bitwise equal gradients (PyTorch's reentrancy
  /// check): a backward that depends on leftover state gives different bits the second time.
  bool check_reentrant = true;
  /// Accept, on purpose, an input whose derivatives are all zero (both ways) and an output that
  /// no perturbation changes: by default such a check is "vacuous" and not ok, since zeros agree
  /// with zeros whether or not the gradient is right.
  bool allow_vacuous = false;
  /// The perturbed forwards replay one compiled call of the function (tg::compile) instead of
  /// running it again: the same values, without recording or checking each op again. A function
  /// that compile() refuses (it reads values, draws random numbers) runs eagerly instead.
  bool replay = true;
};

/// Derivatives at most this large (in absolute value, both ways) count as zero for "vacuous".
inline constexpr double kVacuousBelow = 1e-12;

/// The comparison for one input tensor.
struct InputCheck {
  size_t input = 0;               ///< which input
  bool ok = true;                 ///< every element within tolerance
  double max_abs_error = 0;       ///< largest |analytical - numerical|
  double max_rel_error = 0;       ///< largest |analytical - numerical| / max(|numerical|, tiny)
  std::vector<int64_t> worst_index;  ///< element with the largest excess over tolerance
  double analytical = 0;          ///< backprop's value there
  double numerical = 0;           ///< central differences' value there
  int64_t direction = -1;         ///< Jacobian row or projection index where it was worst
  /// With the full Jacobian: the output element of row `direction` (the gradient compared there is
  /// that element's). Empty for random projections, and for a scalar output.
  std::vector<int64_t> output_index;
  bool projected = false;         ///< `direction` counts random projections, not Jacobian rows
  /// Every derivative compared for this input was zero, analytical and numerical: the comparison
  /// proves nothing (not ok unless allow_vacuous).
  bool vacuous = false;
  /// Elements left out of the comparison because they sit within eps of a kink (node checks).
  std::vector<std::vector<int64_t>> at_kinks;
  /// Named in GradcheckOptions::skip_inputs: neither perturbed nor compared, so `ok` says nothing
  /// about it (the report prints "skipped").
  bool skipped = false;
};

/// The check of one recorded node on its own.
struct NodeCheck {
  size_t position = 0;       ///< index on the tape
  std::string op;            ///< op name
  bool ok = true;            ///< all inputs within tolerance
  bool reentrant = true;     ///< its backward gave the same bits twice
  std::vector<Shape> input_shapes;  ///< shapes of its inputs
  std::vector<InputCheck> inputs;   ///< per input
  /// Some input element sits within eps of a kink of the op (relu at 0, a tie of maximum), so
  /// central differences straddle it: those elements are neither passed nor failed (listed in
  /// InputCheck::at_kinks), and the node is reported "inconclusive".
  bool inconclusive = false;
  /// Every input's derivatives were zero both ways: the node's check proves nothing (reported,
  /// but the report's verdict rests on the function's inputs).
  bool vacuous = false;
};

/// Result of gradcheck: whether it passed, and where it did not.
struct GradcheckReport {
  bool ok = true;                   ///< the whole function and every node passed
  bool promoted = false;            ///< some input was float32 and was checked in float64
  std::string method;               ///< "full Jacobian (N rows)" or "K random projections"
  std::vector<InputCheck> inputs;   ///< whole-function comparison, per input
  std::vector<NodeCheck> nodes;     ///< per-node comparison, in tape order
  bool reentrant = true;            ///< the backward gave the same bits twice (check_reentrant)
  int64_t elements_compared = 0;    ///< input elements compared with central differences, nodes included
  /// Why the check proves nothing, when it does not (no element compared, no node recorded with
  /// check_nodes on): then `ok` is false. Empty otherwise.
  std::string vacuous;
  /// A sample point sits within eps of a kink of some node, and the only disagreements are
  /// there or in the whole function: neither passed nor failed (`ok` is false).
  bool inconclusive = false;
  /// gradgradcheck: where the first derivative recorded by create_graph differs from plain
  /// backward's (then `ok` is false). Empty otherwise.
  std::string first_order_mismatch;
  /// The first failing node, or nullptr.
  const NodeCheck* first_bad_node() const;
  /// A readable report: one line per input and per node, failures marked.
  std::string str() const;
};

/// Prints GradcheckReport::str().
std::ostream& operator<<(std::ostream& os, const GradcheckReport& r);

/// Compares backprop's gradients of `fn` at `inputs` with central differences in float64
/// (float32 inputs are promoted, and the report says so). Non-scalar outputs are checked through
/// full Jacobian rows or random projections. With `check_nodes`, every node on the function's
/// tape is also checked against finite differences of its own forward. Never passes vacuously:
/// no inputs, a `skip_inputs` index out of range, or no projections are errors (tg::Error), and a
/// check that compares no element, or finds no node with `check_nodes` on, is not `ok`.
GradcheckReport gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

/// Checks every node that `root` depends on against finite differences of that node's own
/// forward, at the values recorded on the tape. Needs the graph (run before backward, or with
/// retain_graph): a released graph, or a leaf, is an error.
GradcheckReport gradcheck_nodes(const Tensor& root, const GradcheckOptions& options = {});

/// Second derivatives of `fn` at `inputs`: the backward of backward (create_graph) against
/// central differences of the first derivative, in float64, whole and node by node on the
/// gradient's own tape. The first derivative is G(x, v) = J(x)^T v for a fixed random upstream v
/// (from `seed`), which is checked as an extra input, the report's last. Also requires G to equal
/// plain backward's gradient (`first_order_mismatch`).
GradcheckReport gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

/// Gradient of a scalar-valued `fn` by central differences: (f(x + eps) - f(x - eps)) / 2 eps for
/// every element of every input, in float64. Returns one float64 tensor per input. With `replay`,
/// the perturbed forwards replay one compiled call of `fn` (see GradcheckOptions::replay).
std::vector<Tensor> numerical_grad(const TensorFn& fn, const std::vector<Tensor>& inputs, double eps = 1e-6,
                                   bool replay = true);

}  // namespace tapegrad
