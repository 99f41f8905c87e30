#pragma once
// Private: one recorded op on the tape, and the type-erased view of an op definition that a
// node points to. An op's author never touches these: op.h derives them from the definition.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <new>
#include <string>
#include <vector>

#include "tapegrad/autograd/tape.h"
#include "tensor_impl.h"
#include "tls.h"

namespace tapegrad::detail {

class BackwardContext;
struct Kernel;  // ops/kernel.h

// The tensor inputs of an op call, by reference: a braced list `{a, b}` (no reference-count
// traffic on the hot path) or a vector (user functions, gradcheck replays).
class Inputs {
 public:
  using Refs = std::initializer_list<std::reference_wrapper<const Tensor>>;
  // The list's array lives until the end of the full expression that calls the op, which is as
  // long as an Inputs is used (GCC cannot see that, hence the pragma).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  Inputs(Refs refs) : refs_(refs.begin()), size_(refs.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  Inputs(const std::vector<Tensor>& tensors) : tensors_(tensors.data()), size_(tensors.size()) {}
  // An array of references that outlives the call (a compiled step's instruction).
  Inputs(const std::reference_wrapper<const Tensor>* refs, size_t n) : refs_(refs), size_(n) {}
  size_t size() const { return size_; }
  const Tensor& operator[](size_t i) const { return tensors_ ? tensors_[i] : refs_[i].get(); }
  std::vector<Tensor> vec() const {
    std::vector<Tensor> v;
    v.reserve(size_);
    for (size_t i = 0; i < size_; ++i) v.push_back((*this)[i]);
    return v;
  }

 private:
  const std::reference_wrapper<const Tensor>* refs_ = nullptr;
  const Tensor* tensors_ = nullptr;
  size_t size_ = 0;
};

// A node's inputs with their storage versions at record time: two inline (every built-in op
// but the user functions has at most two tensor inputs), more spill to the heap.
class InputList {
 public:
  size_t size() const { return size_; }
  const Tensor& operator[](size_t i) const { return i < kInline ? inline_[i] : more_[i - kInline]; }
  uint32_t version(size_t i) const { return i < kInline ? versions_[i] : more_versions_[i - kInline]; }
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
  // A compiled step rebinds an input to the tensor of this call, and refreshes the versions.
  void set(size_t i, const Tensor& t) { (i < kInline ? inline_[i] : more_[i - kInline]) = t; }
  void set_version(size_t i, uint32_t v) { (i < kInline ? versions_[i] : more_versions_[i - kInline]) = v; }
  // Drops every input (spill capacity is kept for reuse). Always inline: record() runs it once
  // per node, and GCC's per-file inlining budget otherwise drops it in some op files.
  [[gnu::always_inline]] void clear() {
    for (size_t i = 0; i < kInline && i < size_; ++i) inline_[i] = Tensor();
    more_.clear();
    more_versions_.clear();
    size_ = 0;
  }
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

// Room in a node for an op's named arguments (the op's Args struct, constructed in place).
struct alignas(16) ArgSlot {
  static constexpr size_t kBytes = 48;  // a Shape fits (sum_to, broadcast_to)
  unsigned char bytes[kBytes];
};

// What a node knows of its op: implemented once, by Op<Args> in op.h, for every definition.
class OpInfo {
 public:
  OpInfo(const char* name, bool trivial_args) : name_(name), trivial_args_(trivial_args) {}
  // True when the arguments need no destructor: release() then skips destroy() (the hot path).
  bool trivial_args() const { return trivial_args_; }
  // The op's name; user functions name themselves through their arguments.
  virtual const char* name(const ArgSlot&) const { return name_; }
  // Adds the gradients of the node's inputs (the definition's backward).
  virtual void backward(BackwardContext& ctx) const = 0;
  // The forward at new inputs with the node's arguments (recorded again): per-node gradcheck.
  virtual TensorFn bind(const ArgSlot& args) const = 0;
  // The forward alone, not recorded: a compiled step's replay (`args` as the trace stored them).
  virtual Tensor run(Inputs in, ArgSlot& args) const = 0;
  // The kernel form of the call that gave `out` (ops/kernel.h), or false if it has none.
  virtual bool kernel(Inputs in, const ArgSlot& args, const Tensor& out, Kernel& k) const = 0;
  // The node's input elements within `eps` of a kink of the op, as a function of eps, or an
  // empty function for an op without kinks.
  virtual std::function<std::vector<ElementRef>(double)> kinks(const InputList& inputs, const ArgSlot& args) const = 0;
  // Ends the lifetime of the arguments in `args`.
  virtual void destroy(ArgSlot& args) const = 0;

 protected:
  ~OpInfo() = default;

 private:
  const char* name_;
  bool trivial_args_;
};

// One recorded op: which op, its inputs (held), its output (not held: the output owns its
// link to the node), and its arguments. Slots are reused across steps.
struct Node {
  const OpInfo* op = nullptr;
  TensorImpl* output = nullptr;
  InputList inputs;  // each with its storage version when recorded
  uint32_t output_version = 0;
  ArgSlot args;      // live while `op` is set and the node is not finished
  // Holds this node's output alive during backward once nothing else does: the node that
  // consumed it was released, but its gradient still has to flow through this node.
  Tensor pin;
  bool dead = false;      // output destroyed: nothing can ask for this node's gradient
  bool finished = false;  // released (by backward or because it was dead)
  const char* name() const { return op->name(args); }
};

// A compiled step's own backward pass for its result (compile/compile.cpp), run by backward()
// instead of the engine: `root` is the tensor backward() was called on. Returns false when it
// does not apply (another root, values changed in place since the call): the engine then runs.
class StepBackward {
 public:
  virtual bool run(const Tensor& root, const Tensor& upstream) = 0;
  // Brings the tape's nodes up to the last call (the versions of the values they saved), which a
  // replay leaves to this, before the engine runs on the tape.
  virtual void sync_nodes() = 0;

 protected:
  ~StepBackward() = default;
};

// The tape behind tg::Tape: the flat list of nodes of this thread. Public methods of Tape are
// implemented on it; the library reaches it directly through TapeImpl::current().
class TapeImpl : public Tape {
 public:
  TapeImpl();
  ~TapeImpl();
  static TapeImpl& current();
  // Makes `tape` this thread's current tape (compile() records onto its own); returns the previous one.
  static TapeImpl* exchange_current(TapeImpl* tape);
  // A compiled step's tape: backward() replays it and keeps its nodes for the next replay.
  bool compiled() const { return compiled_; }
  // Marks this tape as a compiled step's, owned by the calling thread.
  void mark_compiled();
  // True when the calling thread owns this compiled tape.
  bool owned_here() const;
  // True when this is the calling thread's own (eager) tape, even while compile() records elsewhere.
  bool is_this_threads() const;
  // What a compiled step's tape can give backward(): its last replay may have been consumed by a
  // backward() without retain_graph (as eagerly, a second one is refused), or may have failed
  // half-way (the slots hold values of two calls). Each successful replay makes it `ready`.
  enum class StepState : uint8_t { ready, consumed, failed };
  StepState step_state = StepState::ready;
  // A compiled step's program for the backward of its result, or null (the engine runs).
  StepBackward* step_backward = nullptr;

  size_t live_nodes() const { return used_ - finished_; }
  size_t size() const { return used_; }
  // A fresh node slot at the end of the tape.
  Node& push();
  Node& node(size_t i) { return nodes_[i]; }
  const Node& node(size_t i) const { return nodes_[i]; }
  // While a backward with create_graph records onto this tape, collect() waits: the pass holds
  // indices into it. (Recording may also move the nodes: the pass runs each node's backward on a
  // copy of it.)
  void hold_collection(bool on) { holding_ += on ? 1 : -1; }
  // Marks node `index` dead because its output tensor was destroyed.
  void on_output_destroyed(int64_t index);
  // Releases node `index`: drops its inputs and arguments; its output becomes a leaf.
  void release(size_t index);
  // Releases dead nodes and trims finished ones from the end.
  void collect();
  void clear();
  void shrink();
  std::vector<NodeView> nodes_of(const Tensor& root) const;

 private:
  std::vector<Node> nodes_;
  size_t used_ = 0;
  int holding_ = 0;
  size_t finished_ = 0;
  size_t dead_pending_ = 0;
  bool exiting_ = false;  // the thread is ending: clear() is the tape's last act
  bool compiled_ = false;
  const void* owner_ = nullptr;  // the owning thread's marker (a thread-local's address)
};

// Storage::last_writer of a slot a compiled step's replay rewrote (its address identifies it).
inline constexpr char kReplayWriter[] = "a compiled step's replay";

inline const TapeImpl& impl_of(const Tape& t) { return static_cast<const TapeImpl&>(t); }
inline TapeImpl& impl_of(Tape& t) { return static_cast<TapeImpl&>(t); }

// True unless a NoGradGuard is active on this thread (the flag itself, for the recording path).
extern TG_TLS thread_local bool grad_enabled;

// RAII: grad mode set to `on` for a scope (a backward pass: off, or on for create_graph;
// gradgradcheck's first derivative: on, even inside gradcheck's unrecorded forwards).
class GradMode {
 public:
  explicit GradMode(bool on) : previous_(grad_enabled) { grad_enabled = on; }
  ~GradMode() { grad_enabled = previous_; }
  GradMode(const GradMode&) = delete;
  GradMode& operator=(const GradMode&) = delete;

 private:
  bool previous_;
};

}  // namespace tapegrad::detail
