#pragma once
/// \file tape.h
/// The tape: recorded nodes in execution order, replayed in reverse by backward().
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// A function of several tensors to one tensor, as gradcheck, replays and user code take it.
using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

/// True unless a NoGradGuard is active on this thread.
bool is_grad_enabled();

/// RAII: while alive, ops on this thread record nothing (for evaluation and optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

struct GradcheckReport;

/// What to_dot shows beside each node's op and shape.
struct DotOptions {
  /// Each node's value: min, max and mean, and how many elements are NaN.
  bool values = false;
  /// Each node's and leaf's gradient (of a one-element root), the same summary. Computed by
  /// tg::grad with retain_graph, so the graph must still be there (run it before backward(), or
  /// after backward({.retain_graph = true})); grad() is left alone.
  bool grads = false;
  /// A report of gradcheck_nodes(root): the nodes it failed are drawn in red, its inconclusive
  /// ones in orange.
  const GradcheckReport* check = nullptr;
};

/// One element of one input of a node: `element` counts in row-major order.
struct ElementRef {
  size_t input = 0;     ///< which input of the node
  int64_t element = 0;  ///< flat (row-major) index in that input
};

/// A read-only view of one recorded node, for inspection and per-node checking.
struct NodeView {
  size_t position;                 ///< index on the tape (execution order)
  std::string op;                  ///< op name
  std::vector<Tensor> inputs;      ///< its inputs as recorded
  Tensor output;                   ///< its output
  /// The node's forward with its recorded arguments, callable at new inputs (it records again).
  TensorFn replay;
  /// For an op that declares its kinks (relu and abs at 0, leaky_relu, a tie of maximum or max):
  /// the input elements within `eps` of one, where central differences straddle it. Empty for
  /// ops without kinks.
  std::function<std::vector<ElementRef>(double eps)> near_kinks;
};

/// The per-thread list of recorded nodes. Each thread has its own tape, so threads training
/// separate models never interfere; tensors recorded on one thread's tape cannot be used in
/// ops recorded on another's.
class Tape {
 public:
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// This thread's tape.
  static Tape& current();
  /// Nodes recorded and not yet released.
  size_t live_nodes() const;
  /// Slots in use, released or not (the position the next node gets).
  size_t size() const;
  /// Nodes that `root` depends on, in execution order (root's own node last).
  std::vector<NodeView> nodes_of(const Tensor& root) const;
  /// Graphviz DOT text of the nodes `root` depends on: one box per node with op name and shape.
  std::string to_dot(const Tensor& root) const;
  /// The same, with value and gradient summaries and a gradcheck's verdicts (DotOptions).
  std::string to_dot(const Tensor& root, const DotOptions& options) const;
  /// Releases every node (their saved tensors are freed); tensors they produced become leaves.
  void clear();
  /// Returns spare node slots and their buffers to the system.
  void shrink();
  /// Releases dead nodes (outputs dropped without backward) and trims finished ones from the end;
  /// recording and backward() call it on their own.
  void collect();

 protected:
  Tape() = default;  // the library's tape derives from this class; users reach it by current()
  ~Tape() = default;
};

/// Graphviz DOT text of everything `root` depends on (see Tape::to_dot).
std::string to_dot(const Tensor& root);
/// Graphviz DOT text with summaries and a gradcheck's verdicts (see DotOptions).
std::string to_dot(const Tensor& root, const DotOptions& options);

}  // namespace tapegrad
