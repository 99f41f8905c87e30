#pragma once
/// \file tape.h
/// The tape: recorded nodes in execution order, replayed in reverse by backward().
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/tensor.h"

namespace tapegrad {

class Tape;
struct FunctionDef;

namespace detail {
struct Node;
class BackwardContext;

/// How one built-in op differentiates and re-runs itself: the op's name, its local backward,
/// and a replay that recomputes the forward from new inputs (used by per-node gradcheck).
struct OpDef {
  const char* name;
  void (*backward)(BackwardContext& ctx);
  Tensor (*replay)(const Node& node, const std::vector<Tensor>& inputs);
};

/// Extra values an op keeps for its backward beside its inputs.
struct NodeArgs {
  Tensor saved;           ///< a tensor the backward needs that is not an input (labels, a mask)
  double scalars[2] = {};  ///< scalar arguments (slope, exponent)
  int64_t ints[2] = {};    ///< integer arguments (axis, keepdim)
};

/// A node's inputs with their storage versions at record time: two inline (every built-in op
/// has at most two tensor inputs), more spill to the heap (user functions).
class InputList {
 public:
  /// Number of inputs.
  size_t size() const { return size_; }
  /// Input `i`.
  const Tensor& operator[](size_t i) const { return i < kInline ? inline_[i] : more_[i - kInline]; }
  /// Storage version of input `i` when it was recorded.
  uint32_t version(size_t i) const { return i < kInline ? versions_[i] : more_versions_[i - kInline]; }
  /// Appends an input and its current version.
  void push_back(const Tensor& t, uint32_t version) {
    if (size_ < kInline) {
      inline_[size_] = t;
      versions_[size_] = version;
    } else {
      more_.push_back(t);
      more_versions_.push_back(version);
    }
    ++size_;
  }
  /// Drops every input (spill capacity is kept for reuse).
  void clear() {
    for (size_t i = 0; i < kInline && i < size_; ++i) inline_[i] = Tensor();
    more_.clear();
    more_versions_.clear();
    size_ = 0;
  }
  /// The inputs as a vector.
  std::vector<Tensor> vec() const {
    std::vector<Tensor> v;
    for (size_t i = 0; i < size_; ++i) v.push_back((*this)[i]);
    return v;
  }

 private:
  static constexpr size_t kInline = 2;
  Tensor inline_[kInline];
  uint32_t versions_[kInline] = {};
  uint32_t size_ = 0;
  std::vector<Tensor> more_;
  std::vector<uint32_t> more_versions_;
};

/// One recorded op: which op, its inputs (held), its output (not held: the output owns its
/// link to the node), and what its backward needs. Slots are reused across steps.
struct Node {
  const OpDef* op = nullptr;
  std::shared_ptr<const FunctionDef> function;  ///< set for user-defined functions
  TensorImpl* output = nullptr;
  InputList inputs;  ///< inputs, each with its storage version when recorded
  uint32_t output_version = 0;
  NodeArgs args;
  /// Holds this node's output alive during backward once nothing else does: the node that
  /// consumed it was released, but its gradient still has to flow through this node.
  Tensor pin;
  bool dead = false;      ///< output destroyed: nothing can ask for this node's gradient
  bool finished = false;  ///< released (by backward or because it was dead)
  /// The op's name ("matmul", or the user function's name).
  const char* name() const;
};

/// What a node's backward sees: the upstream gradient, the inputs, the output, saved values,
/// and a way to add each input's gradient.
class BackwardContext {
 public:
  BackwardContext(Node& node, Tensor& grad) : node_(node), grad_(grad) {}
  /// Gradient of the loss with respect to this node's output.
  const Tensor& grad() const { return grad_; }
  /// The upstream gradient, moved out (for its last use: lets accumulate() keep the buffer).
  Tensor take_grad() { return std::move(grad_); }
  /// Input `i` as recorded.
  const Tensor& input(size_t i) const { return node_.inputs[i]; }
  /// True if input `i` needs a gradient.
  bool needs_grad(size_t i) const { return node_.inputs[i].requires_grad(); }
  /// The node's output value.
  Tensor output() const;
  /// The extra tensor saved at record time.
  const Tensor& saved() const { return node_.args.saved; }
  /// Scalar argument `k`.
  double scalar(int k) const { return node_.args.scalars[k]; }
  /// Integer argument `k`.
  int64_t integer(int k) const { return node_.args.ints[k]; }
  /// The node itself.
  const Node& node() const { return node_; }
  /// Adds `g` into input `i`'s gradient, summing over broadcast dimensions first.
  void accumulate(size_t i, Tensor g);

 private:
  Node& node_;
  Tensor& grad_;
};

/// A braced list of inputs, taken by reference (no reference-count traffic on the hot path).
using TensorRefs = std::initializer_list<std::reference_wrapper<const Tensor>>;

/// Records `out` as the result of `op` on `inputs` if any input requires gradients and
/// recording is on; returns `out`.
Tensor record(const OpDef& op, Tensor out, TensorRefs inputs, NodeArgs args = {});
/// Same, for a list of inputs of any length.
Tensor record(const OpDef& op, Tensor out, const std::vector<Tensor>& inputs, NodeArgs args,
              std::shared_ptr<const FunctionDef> function);
}  // namespace detail

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

/// A read-only view of one recorded node, for inspection and per-node checking.
struct NodeView {
  size_t position;                 ///< index on the tape (execution order)
  std::string op;                  ///< op name
  std::vector<Tensor> inputs;      ///< its inputs as recorded
  Tensor output;                   ///< its output
  const detail::Node* node;        ///< the node itself (valid while the tape keeps it)
};

/// The per-thread list of recorded nodes. Each thread has its own tape, so threads training
/// separate models never interfere; tensors recorded on one thread's tape cannot be used in
/// ops recorded on another's.
class Tape {
 public:
  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// This thread's tape.
  static Tape& current();
  /// Nodes recorded and not yet released.
  size_t live_nodes() const { return used_ - finished_; }
  /// Slots in use, released or not (the position the next node gets).
  size_t size() const { return used_; }
  /// Nodes that `root` depends on, in execution order (root's own node last).
  std::vector<NodeView> nodes_of(const Tensor& root) const;
  /// Graphviz DOT text of the nodes `root` depends on: one box per node with op name and shape.
  std::string to_dot(const Tensor& root) const;
  /// Releases every node (their saved tensors are freed); tensors they produced become leaves.
  void clear();
  /// Returns spare node slots and their buffers to the system.
  void shrink();

  // Internal: used by record(), backward() and TensorImpl.
  /// Internal: a fresh node slot at the end of the tape (used by record()).
  detail::Node& push();
  /// Internal: the node at position `i`.
  detail::Node& node(size_t i) { return nodes_[i]; }
  /// Internal: the node at position `i`.
  const detail::Node& node(size_t i) const { return nodes_[i]; }
  /// Internal: marks node `index` dead because its output tensor was destroyed.
  void on_output_destroyed(int64_t index);
  /// Internal: releases node `index` (drops its inputs and saved values; its output becomes a leaf).
  void release(size_t index);
  /// Releases dead nodes (outputs dropped without backward) and trims finished ones from the end;
  /// recording and backward() call it on their own.
  void collect();

 private:
  std::vector<detail::Node> nodes_;
  size_t used_ = 0;
  size_t finished_ = 0;
  size_t dead_pending_ = 0;
};

/// Graphviz DOT text of everything `root` depends on (see Tape::to_dot).
std::string to_dot(const Tensor& root);

}  // namespace tapegrad
