#pragma once
/// \file compile.h
/// Compiled steps: a function's tape recorded once, then replayed at new inputs.
///
/// A training step runs the same ops on new values again and again. tg::compile runs the
/// function once and keeps the ops it called as a program: the forward's instructions, then the
/// instructions of one backward pass of the result, traced at compile time. Each later call runs
/// the forward's instructions on the new values (nothing is recorded, no node is created; an op
/// with a kernel form is one function call on the buffers), and backward() on the result runs the
/// backward's instructions and adds the leaves' gradients into their grad(). The values live in
/// one arena planned by liveness (arena_bytes()). Values and gradients are bitwise those of
/// running the function eagerly.
///
/// What a compiled step sees:
/// - The inputs are the tensors passed at each call, with the example's shapes and dtypes (and
///   requires_grad). An input that requires gradients receives them in its grad().
/// - Any other tensor the function uses (a parameter it captures, a constant it makes) is read
///   live at every replay: the same tensor object, so an optimizer's in-place update is seen.
/// - Every tensor the function computes is a slot of the step, overwritten by each replay: the
///   returned result, and any intermediate the function stored elsewhere (the logits, for an
///   accuracy count). clone() one to keep its value past the next call.
///
/// What it cannot see is an error at compile time, never a wrong replay: control flow that
/// depends on values (item(), at(), to_vector(), data() of an input or a tensor computed from
/// them), a value read to the host from a captured tensor (it would be frozen), in-place writes,
/// and random draws (randn, dropout in training mode) inside the function. What changes after
/// compile() and would change the recorded ops is an error at the call: a captured tensor's
/// requires_grad, a layer's training mode. An input that is one of the step's own results
/// (x = step({x})) is copied first; a replay bumps the version of every slot it rewrites, so an
/// eager node that saved one refuses its backward. As eagerly, a second backward() needs
/// retain_graph, and under NoGradGuard the result requires no gradient.
///
/// Shapes are part of the compiled step. A call with other shapes throws; CompiledCache keeps
/// one compiled step per input signature (the last, smaller batch of an epoch is a second one).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad {

/// How tg::compile records.
struct CompileOptions {
  /// Allow item(), at(), to_vector() and data() on the inputs, tensors computed from them and
  /// captured tensors while the function is recorded, for functions known to be branch-free (a
  /// replay follows the branches taken at compile time, and keeps the values read then).
  bool allow_host_reads = false;
  /// backward() on the result makes the program's own buffer the grad() of each leaf whose grad()
  /// is undefined (after zero_grad(true)), instead of a copy of it: a step then allocates and
  /// copies no gradient. That grad() is rewritten by the step's next backward() (clone() it to
  /// keep it); a leaf whose grad() is defined gets the sum, as without the option (a grad() still
  /// holding the program's buffer is copied out first). tg::compile_step sets it.
  bool grads_in_program = false;
  /// Fusion: consecutive elementwise instructions over results of one size run block by block,
  /// each block of this many bytes going through all of them while it sits in the L1 cache (the
  /// values are those of the unfused instructions, bit for bit). 0 turns fusion off; runs no
  /// longer than one block are not fused.
  int64_t fuse_block_bytes = 8192;
};

/// A recorded function, replayed at new inputs of the same shapes and dtypes. Move-only; used
/// on the thread that compiled it (a tape is per thread).
class Compiled {
 public:
  /// An empty step (calling it throws).
  Compiled();
  /// Takes over `other`'s step.
  Compiled(Compiled&& other) noexcept;
  /// Takes over `other`'s step.
  Compiled& operator=(Compiled&& other) noexcept;
  ~Compiled();

  /// Runs the function's instructions at `inputs` and returns its result, whose backward() runs
  /// the traced backward. Throws tg::Error naming the input when a shape, dtype or requires_grad
  /// differs from the example's.
  Tensor operator()(const std::vector<Tensor>& inputs);
  /// True once compiled.
  bool defined() const { return impl_ != nullptr; }
  /// Ops replayed per call (the forward's).
  size_t ops() const;
  /// Ops that backward() on the result runs: the backward pass traced at compile time, each
  /// gradient an op's result (0 when nothing requires gradients; backward() then runs the tape).
  size_t backward_ops() const;
  /// Nodes on the step's tape (the recorded ops; ops on data alone are replayed, not recorded).
  size_t nodes() const;
  /// Bytes of the step's planned arena: the one buffer that holds the values its instructions
  /// write, each at an offset assigned by liveness (a gradient's memory is reused once its last
  /// reader ran; the forward's values live until the next call).
  size_t arena_bytes() const;
  /// The shapes the step was compiled for, one per input.
  std::vector<Shape> input_shapes() const;
  /// The program as text, one instruction per line: its number, whether it belongs to the
  /// forward or the backward, the op, the shape it writes, whether it runs as a kernel on
  /// pointers ("kernel") or through the op's forward ("op"), and where its value lies (an offset
  /// in the arena, or "own buffer"); then the additions into the leaves' grad(). For reading and
  /// for docs/compiled.md's drawing; the format may change.
  std::string program() const;
  /// True when a call would throw because something fixed at compile time has changed since: a
  /// captured tensor's requires_grad, a layer's training mode (compile_depends_on), or gradients
  /// are enabled now for a step compiled under NoGradGuard.
  bool stale() const;

  struct Impl;  ///< the recorded step (compile.cpp)

 private:
  std::unique_ptr<Impl> impl_;
  // result.backward() for tg::compile_step, `result` being this step's last result: the program's
  // backward with the seed 1, without the engine's entry (a seed tensor, the root's checks).
  void backward_from_one(const Tensor& result);
  // operator(), where the caller has just checked stale() (CompiledCache::step_for).
  Tensor call(const std::vector<Tensor>& inputs, bool known_fresh);
  friend class CompiledStep;
  friend class CompiledCache;
  friend Compiled compile(const TensorFn& fn, const std::vector<Tensor>& example_inputs, CompileOptions options);
};

/// Runs `fn` at `example_inputs`, recording its ops and its tape, and returns the step that
/// replays them. Throws tg::Error if `fn` reads values to the host, writes in place or draws
/// random numbers while it is recorded (see CompileOptions), or returns a tensor that no op
/// computed from the inputs.
Compiled compile(const TensorFn& fn, const std::vector<Tensor>& example_inputs, CompileOptions options = {});

/// True while tg::compile records a function on this thread (a layer that cannot be replayed,
/// such as Dropout in training mode, refuses then).
bool is_compiling();

/// While tg::compile records on this thread: the step depends on `*flag` keeping the value it has
/// now (a layer's training mode); a later call after it changed throws tg::Error naming `what`.
/// Does nothing when not compiling. Held shared, so the step can check it after the layer is gone.
void compile_depends_on(std::shared_ptr<const bool> flag, const std::string& what);

/// Compiled steps of one function, one per input signature (shapes, dtypes, requires_grad),
/// compiled on first sight: the full batches of an epoch replay one, the last partial batch
/// another. At most `capacity` are kept (the least recently used goes first). Each step has its
/// own slots: an intermediate the function stores elsewhere is, after each compile, the newest
/// step's, so key such a store by the signature (the training program keeps its logits per batch
/// size).
class CompiledCache {
 public:
  /// A cache for `fn`, empty until the first call.
  explicit CompiledCache(TensorFn fn, CompileOptions options = {}, size_t capacity = 4);
  /// Replays the step compiled for these inputs' signature, compiling it first if needed.
  Tensor operator()(const std::vector<Tensor>& inputs) { return step_for(inputs).call(inputs, true); }
  /// The step compiled for these inputs' signature (shapes, dtypes, requires_grad), compiled now
  /// if there is none or if it is stale; valid until the next call of this cache.
  Compiled& step_for(const std::vector<Tensor>& inputs);
  /// Steps compiled so far and kept.
  size_t size() const { return entries_.size(); }
  /// Times a call had to compile.
  size_t compilations() const { return compilations_; }

 private:
  struct Entry {
    std::vector<Shape> shapes;
    std::vector<Dtype> dtypes;
    std::vector<bool> grads;
    Compiled step;
  };
  TensorFn fn_;
  CompileOptions options_;
  size_t capacity_;
  size_t compilations_ = 0;
  std::vector<Entry> entries_;  // most recently used last
};

}  // namespace tapegrad
