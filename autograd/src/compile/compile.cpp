// Compiled steps: compile() runs the function once with every op call traced (trace.h), keeping
// the tape it recorded; a call replays the traced forwards into the same tensors, so the tape's
// nodes see the new values and backward() runs them again.
#include "tapegrad/autograd/compile.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif

#include "compile/capture.h"
#include "ops/op.h"
#include "ops/parallel.h"
#include "tapegrad/core/threads.h"
#include "tapegrad/core/memory.h"

namespace tapegrad {

namespace detail {

TG_TLS thread_local Trace* active_trace = nullptr;
TG_TLS thread_local uint32_t compiles_begun = 0;  // numbers each compile() (Trace::serial)

// Counts the times a program's slot changed its buffer (a replay that pointed a view at a new
// input, or kept an op's result written elsewhere; a call given another input tensor). A program
// keeps its instructions' input buffers current through its own moves; a count that moved
// otherwise (another program's move of a tensor this one captures) makes it find them all again.
// Global, not per thread: a tensor one thread's program holds may be another's slot.
std::atomic<uint64_t> storage_moves{0};

namespace {

// One traced op call: the op, its arguments as the forward left them (canonical), where its
// inputs come from (a range of Compiled::Impl::refs), and the tensor it writes.
struct alignas(64) Instr {
  // What a replay reads for a kernel call, first, in one cache line: a scalar graph's program is
  // thousands of instructions, one element each, and each line more is one more from L2.
  Kernel::Run run = nullptr;       // kernel.run
  Storage* out_storage = nullptr;  // out->storage, kept by the replay: one pointer less to follow
  // The kernel's input buffers: found once, not through the slots at every call, and kept current
  // when a slot's buffer moves (Compiled::Impl::moved).
  const void* in[kKernelInputs] = {};
  // `sharers` if the call runs its kernel when not fused, -1 otherwise: the one comparison the
  // replay makes before calling the kernel.
  int32_t kernel_holders = -1;
  // The version of the result's buffer when this call's replay wrote it (or, for a view, found it).
  uint32_t version_after = 0;
  // Bit 0: its node sees each call's versions (a step without a program backward); bit 1: it has
  // a node (refreshed under anomaly mode, which checks each value).
  uint8_t refresh = 0;
  TensorImpl* out = nullptr;
  Kernel kernel;  // the call's kernel form (run null: the forward replays)

  const OpInfo* op = nullptr;  // set once `args` holds arguments
  ArgSlot args;
  uint32_t first = 0, count = 0;
  uint32_t out_slot = 0;
  int64_t node = -1;  // its node on the step's tape, or -1 (no input required gradients)
  bool recycle = true;  // the op writes its result into the offered tensor (Replay::reuse)
  // The input whose buffer the result shares (a reshape, a detach), or -1: a replay points the
  // result at that input's buffer, where the values already are, and computes nothing.
  int32_t view_of = -1;
  // The slots sharing the result's buffer after compile() (views of it): with no other holder,
  // the buffer may be written in place.
  int32_t sharers = 1;
  // The first of a fused run of blockable kernels (Kernel::grain): the index past its last, and
  // the elements of a block; 0 elsewhere.
  uint32_t fused_end = 0;
  int64_t block = 0;

  Instr() = default;
  // The arguments move as bytes: the vector relocates them, and the source no longer owns them.
  Instr(Instr&& o) noexcept
      : run(o.run), out_storage(o.out_storage), kernel_holders(o.kernel_holders), version_after(o.version_after),
        refresh(o.refresh), out(o.out), kernel(o.kernel), op(o.op), args(o.args), first(o.first), count(o.count),
        out_slot(o.out_slot), node(o.node), recycle(o.recycle), view_of(o.view_of), sharers(o.sharers),
        fused_end(o.fused_end), block(o.block) {
    std::memcpy(in, o.in, sizeof in);
    o.op = nullptr;
  }
  Instr& operator=(Instr&&) = delete;
  ~Instr() {
    if (op && !op->trivial_args()) op->destroy(args);
  }
};

// A compiled step's replay offers the tensor an op is about to recompute: the first make_tensor
// of its shape and dtype returns it (its buffer is overwritten in place) instead of allocating,
// and sets `taken`. The replay checks that the op returned it, and runs the op again without
// the offer if the op used it for something else.
struct Replay final : TensorHooks {
  TensorImpl* offer = nullptr;
  bool taken = false;
  TensorImpl* reuse(const Shape& shape, Dtype dtype) override {
    if (!offer || offer->dtype != dtype || offer->shape != shape) return nullptr;
    TensorImpl* r = offer;
    offer = nullptr;
    taken = true;
    return r;
  }
  void made(TensorImpl&, const TensorImpl*) override {}
  void read(const TensorImpl&, const char*) override {}
  void write(const char*) override {}
  void draw(const char*) override {}
  Tensor detach(const Tensor&) override { return {}; }
};

// "[5, 4] float32 requiring gradients": what a call gave, or what the step was compiled for.
std::string signature(const Shape& shape, Dtype dtype, bool grad) {
  return shape.str() + " " + std::string(dtype_name(dtype)) + (grad ? " requiring gradients" : "");
}

}  // namespace

}  // namespace detail

struct Compiled::Impl final : detail::StepBackward {
  std::unique_ptr<detail::TapeImpl> tape;
  // Inputs first (rebound at each call), then the other tensors in order of first use: captured
  // ones (parameters, constants) and the results of the traced ops. The vector never grows after
  // compile(): `refs` point into it.
  std::vector<Tensor> slots;
  size_t inputs = 0;
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  std::vector<bool> grads;
  std::vector<detail::Instr> instrs;
  std::vector<int32_t> ref_slots;  // while tracing: each instruction's input slots
  std::vector<std::reference_wrapper<const Tensor>> refs;
  // Where a node reads an input: rebound to the call's tensor, so its gradient lands there.
  struct InputUse {
    size_t node;
    uint32_t position, input;
  };
  std::vector<InputUse> input_uses;
  size_t result = 0;
  // The slots the instructions write, sorted: an input that is one of them is copied first (the
  // replay would overwrite it while ops still read it).
  std::vector<const detail::TensorImpl*> written;
  // The captured tensors, with whether each required gradients at compile time: the nodes were
  // recorded for that, so a change is refused rather than silently dropping (or adding) a gradient.
  struct Captured {
    size_t slot;
    bool grad;
  };
  std::vector<Captured> captured;
  bool recorded = true;   // compiled with gradients enabled (under NoGradGuard it records no node)
  bool any_grad = false;  // some input or captured tensor required gradients at compile time
  // Flags the function's behaviour was fixed by (a layer's training mode, compile_depends_on).
  struct Guard {
    std::shared_ptr<const bool> flag;
    bool value;
    std::string what;
  };
  std::vector<Guard> guards;

  // Why a call cannot replay faithfully now, or "" (O(captured tensors + guards)).
  std::string stale() const {
    for (const Captured& c : captured) {
      const detail::TensorImpl* t = ::tapegrad::impl_of(slots[c.slot]);
      if (t->requires_grad != c.grad) [[unlikely]] {
        const std::string label = t->storage->label();
        return "a " + t->shape.str() + " tensor it captures" + (label.empty() ? "" : " (" + label + ")") +
               (c.grad ? " no longer requires gradients, but it did when the step was compiled"
                       : " requires gradients now, but did not when the step was compiled") +
               ", and the step's nodes were recorded for that (it would " +
               (c.grad ? "still receive" : "receive no") + " gradient); compile the step again (tg::CompiledCache "
               "does so on its own)";
      }
    }
    for (const Guard& g : guards)
      if (*g.flag != g.value) [[unlikely]]
        return g.what + " was in " + (g.value ? "training" : "evaluation") + " mode when the step was compiled and is in " +
               (g.value ? "evaluation" : "training") + " mode now, and its forward differs between the two; compile "
               "the step again in the new mode (tg::CompiledCache does so on its own), or keep one step per mode";
    if (!recorded && any_grad && detail::grad_enabled) [[unlikely]]
      return "it was compiled under NoGradGuard, so it recorded no node and its result has no gradient, but this "
             "call runs with gradients enabled and tensors that require them; compile it with gradients enabled to "
             "train with it (tg::CompiledCache does so on its own), or call it under NoGradGuard";
    return {};
  }

  // The backward of the result as a program: the instructions after the first `forward` ones,
  // traced from one backward pass at compile time, then each leaf's gradient added into its
  // grad(). Empty when nothing requires gradients, or when the pass could not be traced (the
  // engine then runs backward() on the tape, as it always can).
  size_t forward = 0;  // instructions of the forward; the rest are the backward's
  bool has_backward = false;
  size_t seed = 0;  // the slot backward() copies its upstream gradient into
  struct LeafGrad {
    size_t leaf, grad;  // slots
    // CompileOptions::grads_in_program, and the slot is the leaf's alone, written by a backward
    // instruction: it may become the leaf's grad() itself.
    bool in_program = false;
  };
  std::vector<LeafGrad> leaf_grads;
  // The slots the backward reads or the nodes saved (the forward's results, the inputs, the
  // captured tensors), with their versions when the call ended: a value changed in place since
  // then makes backward() leave the pass to the engine, which names the write.
  std::vector<size_t> backward_reads;
  // Their versions when the call ended: a slot the forward writes has the version its instruction
  // left (Instr::version_after; no instruction writes a slot another wrote); the others (inputs,
  // captured tensors) are noted in call_version at the end of each call.
  std::vector<int32_t> writer_of;      // per slot: the forward instruction writing it, or -1
  std::vector<size_t> outside_reads;   // the slots of backward_reads no forward instruction writes
  std::vector<uint32_t> call_version;  // per slot, for the slots in outside_reads
  uint64_t writes_at_call = 0;         // detail::in_place_writes when the call ended
  uint32_t version_at_call(size_t slot) const {
    const int32_t w = writer_of[slot];
    return w >= 0 ? instrs[static_cast<size_t>(w)].version_after : call_version[slot];
  }
  // With a program backward, a replay leaves the nodes' saved versions to sync_nodes(), which the
  // engine calls before it runs on the tape (they are call_version: nothing in a compiled forward
  // writes a value after the op that saved it ran).
  bool nodes_stale = false;

  // The planned arena (detail::plan_arena): one buffer holding the values the instructions write,
  // each at an offset assigned by liveness. Owned: one reference.
  detail::Storage* arena = nullptr;
  size_t arena_bytes = 0;

  // The slot that input `j` of `instr` reads (refs point into slots).
  size_t input_slot(const detail::Instr& instr, uint32_t j) const {
    return static_cast<size_t>(&refs[instr.first + j].get() - slots.data());
  }

  // Runs instructions [begin, end). (Defined below: it is the replay.)
  void replay(size_t begin, size_t end);
  // The replay's loop: kernel calls inline, every other instruction through replay_other, which
  // returns the last instruction it ran (a fused run's last).
  template <bool kRefresh>
  void replay_loop(detail::Instr* at, detail::Instr* stop, detail::Replay& hooks_replay, bool anomaly);
  detail::Instr* replay_other(detail::Instr* at, detail::Replay& replay, bool anomaly);
  // The Instr::refresh bits of any instruction: whether a replay may have nodes to refresh.
  uint8_t refreshes = 0;
  void refresh_node(const detail::Instr& instr, bool anomaly);
  // Runs the fused run that instrs[begin] starts, block by block; false (nothing run) if one of
  // its results is held outside the program, and so may not be written in place.
  bool run_fused(size_t begin, bool anomaly);
  // Per slot, the kernel inputs that read it (instruction, input): kept current by moved().
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> readers;
  uint64_t known_moves = ~uint64_t(0);  // detail::storage_moves when every kernel input was current
  // The slot's buffer changed: the kernels reading it follow, and the move is counted.
  void moved(size_t slot) {
    const void* data = impl_of(slots[slot])->storage->data;
    for (const auto& [i, j] : readers[slot]) instrs[i].in[j] = data;
    const uint64_t before = detail::storage_moves.fetch_add(1, std::memory_order_relaxed);
    if (before == known_moves) known_moves = before + 1;  // else a move elsewhere too: find them all
  }
  void resolve_all() {
    const uint64_t now = detail::storage_moves.load(std::memory_order_relaxed);
    for (detail::Instr& x : instrs)
      for (uint32_t j = 0; x.kernel.run && j < x.count; ++j) x.in[j] = impl_of(refs[x.first + j].get())->storage->data;
    known_moves = now;
  }
  bool run(const Tensor& root, const Tensor& upstream) override;
  // backward() with the upstream gradient 1 (a loss), for tg::compile_step; false as run().
  bool run_from_one();
  bool unchanged_since_call() const;
  void run_backward_part();  // after the seed is written
  void sync_nodes() override;

  ~Impl() {
    if (tape) tape->step_backward = nullptr;
    instrs.clear();
    if (tape) tape->clear();  // before the slots go: the nodes point at them
    slots.clear();
    if (arena) arena->release();
  }
};

namespace detail {

// compile() under way: the step it fills. As the thread's tensor hooks it refuses what a
// replay could not reproduce (capture.h), and traces detach().
struct Trace final : CaptureChecks {
  Trace(Compiled::Impl& s, uint32_t serial, bool allow_reads) : CaptureChecks(serial, allow_reads), step(s) {}
  Compiled::Impl& step;
  std::unordered_map<const TensorImpl*, int32_t> slot_of;
  std::unordered_set<const Storage*> fresh;  // buffers the traced ops allocated
  Tensor detach(const Tensor& t) override;
  // While the backward is traced: its values that may have died. A value only its slot holds can
  // be read by no later op; its elements (computed from a zero seed, never needed) are freed at
  // once, as the engine frees them eagerly, so that the trace takes no more memory than an eager
  // backward. The slot keeps a hollow buffer, given its place in the arena later.
  bool in_backward = false;
  std::vector<size_t> maybe_dead;
  void free_dead_values();
};

// This thread's cached blocks back to malloc, and malloc's free memory back to the system.
void release_cached() {
  empty_cache();
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

void Trace::free_dead_values() {
  bool large = false;
  std::erase_if(maybe_dead, [&](size_t slot) {
    TensorImpl* t = impl_of(step.slots[slot]);
    Storage* st = t->storage;
    if (t->refs.load(std::memory_order_relaxed) != 1 || st->refs.load(std::memory_order_relaxed) != 1 || st->base)
      return false;
    Storage* h = Storage::hollow(st->bytes);
    h->version = st->version;
    h->last_writer = st->last_writer;
    fresh.erase(st);
    fresh.insert(h);
    t->storage = h;
    large |= st->bytes >= (size_t{1} << 16);
    st->release();
    return true;
  });
  // Uncached, the freed elements leave the process: the trace's memory peaks at what it holds.
  if (large) release_cached();
}

namespace {
int32_t add_slot(Trace& trace, const Tensor& t) {
  const int32_t index = static_cast<int32_t>(trace.step.slots.size());
  trace.step.slots.push_back(t);
  trace.slot_of.emplace(impl_of(t), index);
  return index;
}
}  // namespace

void trace_op(Trace& trace, const OpInfo& op, Inputs in, const Tensor& out,
              const std::function<void(void*)>& make_args) {
  Compiled::Impl& step = trace.step;
  Instr instr;
  make_args(instr.args.bytes);
  instr.op = &op;
  instr.first = static_cast<uint32_t>(step.ref_slots.size());
  instr.count = static_cast<uint32_t>(in.size());
  bool view = false;
  for (size_t k = 0; k < in.size(); ++k) {
    const TensorImpl* t = impl_of(in[k]);
    auto it = trace.slot_of.find(t);
    int32_t slot;
    if (it != trace.slot_of.end()) {
      slot = it->second;
    } else {
      // Not an input, not traced: a captured tensor, read live. Unless it shares the buffer of a
      // traced result: then it was derived from the inputs outside the ops (detach(), a view).
      if (trace.fresh.count(t->storage))
        throw Error(std::string(op.name(instr.args)) + ": input " + std::to_string(k) + ", a " + t->shape.str() +
                    " tensor, shares its values with a tensor computed from the compiled function's inputs, but no "
                    "op made it (detach() or a view): a replay could not follow it. Use the op's result itself");
      slot = add_slot(trace, in[k]);
    }
    step.ref_slots.push_back(slot);
    if (impl_of(out)->storage == t->storage && !view) {
      view = true;
      instr.view_of = static_cast<int32_t>(k);
    }
  }
  const TensorImpl* o = impl_of(out);
  if (trace.slot_of.count(o))
    throw Error(std::string(op.name(instr.args)) + ": returned a tensor it was given; compile() needs each op's "
                "result to be a tensor of its own");
  instr.out_slot = static_cast<uint32_t>(add_slot(trace, out));
  set_traced(*impl_of(out), trace.serial());
  if (!view) trace.fresh.insert(o->storage);
  instr.out = impl_of(out);
  if (trace.in_backward) {
    trace.free_dead_values();
    if (!view) trace.maybe_dead.push_back(instr.out_slot);
  }
  if (o->node >= 0 && o->tape == step.tape.get()) {
    instr.node = o->node;
    for (uint32_t j = 0; j < instr.count; ++j) {
      const int32_t s = step.ref_slots[instr.first + j];
      if (static_cast<size_t>(s) < step.inputs)
        step.input_uses.push_back({static_cast<size_t>(o->node), j, static_cast<uint32_t>(s)});
    }
  }
  step.instrs.push_back(std::move(instr));
}

namespace {
// detach() of a traced tensor: an instruction that makes the view again at each replay.
const Op<void> kDetach({.name = "detach",
                        .forward = [](Inputs in) { return make_view(in[0], in[0].shape()); },
                        .backward = [](BackwardContext&) {},  // never recorded
                        .samples = {}});
}  // namespace

// detach() of a traced tensor while compiling: traced too (a view the replay makes again), so
// that a copy the library keeps of it (an op's labels) follows each replay.
Tensor Trace::detach(const Tensor& x) {
  if (!is_traced(*impl_of(x))) return {};
  Tensor out;
  {
    HooksScope inside(nullptr);
    out = make_view(x, x.shape());
  }
  trace_op(*this, kDetach, {x}, out, [](void*) {});
  return out;
}

namespace {

[[noreturn]] void throw_changed_shape(const Instr& instr, size_t index, const TensorImpl& now) {
  throw Error("compiled step: " + std::string(instr.op->name(instr.args)) + " (op " + std::to_string(index) +
              ") gave a " + now.shape.str() + " " + std::string(dtype_name(now.dtype)) + " result where compile() saw " +
              instr.out->shape.str() + " " + std::string(dtype_name(instr.out->dtype)) +
              ": its shape depends on the values, which a compiled step cannot follow; run it eagerly");
}
}  // namespace

}  // namespace detail

using detail::impl_of;

Compiled::Compiled() = default;
Compiled::Compiled(Compiled&& other) noexcept = default;
Compiled& Compiled::operator=(Compiled&& other) noexcept = default;
Compiled::~Compiled() = default;

size_t Compiled::arena_bytes() const { return impl_ ? impl_->arena_bytes : 0; }
size_t Compiled::ops() const { return impl_ ? impl_->forward : 0; }
size_t Compiled::backward_ops() const { return impl_ && impl_->has_backward ? impl_->instrs.size() - impl_->forward : 0; }
size_t Compiled::nodes() const { return impl_ ? impl_->tape->size() : 0; }
std::vector<Shape> Compiled::input_shapes() const { return impl_ ? impl_->shapes : std::vector<Shape>{}; }
bool Compiled::stale() const { return impl_ && !impl_->stale().empty(); }

std::string Compiled::program() const {
  if (!impl_) return {};
  const Impl& s = *impl_;
  std::string text;
  // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on a literal + std::string here.
  auto name = [&](size_t slot) {
    text += slot < s.inputs ? "input " : "%";
    text += std::to_string(slot);
  };
  const size_t end = s.has_backward ? s.instrs.size() : s.forward;
  for (size_t i = 0; i < end; ++i) {
    const detail::Instr& instr = s.instrs[i];
    const detail::ArgSlot& args = instr.node >= 0 ? s.tape->node(static_cast<size_t>(instr.node)).args : instr.args;
    if (instr.fused_end) {
      text += "fused ";
      text += std::to_string(i);
      text += "..";
      text += std::to_string(instr.fused_end - 1);
      text += ", in blocks of ";
      text += std::to_string(instr.block);
      text += " elements:\n";
    }
    text += std::to_string(i);
    text += i < s.forward ? " forward  " : " backward ";
    name(instr.out_slot);
    text += " = ";
    text += instr.op->name(args);
    text += '(';
    for (uint32_t j = 0; j < instr.count; ++j) {
      if (j) text += ", ";
      name(s.input_slot(instr, j));
    }
    text += ") ";
    text += instr.out->shape.str();
    text += instr.view_of >= 0 ? " view " : instr.kernel.run ? " kernel " : " op ";
    const detail::Storage* st = instr.out->storage;
    if (s.arena && st->base == s.arena) {
      text += "arena +";
      text += std::to_string(static_cast<const char*>(st->data) - static_cast<const char*>(s.arena->data));
    } else {
      text += "own buffer";
    }
    text += '\n';
  }
  if (s.has_backward)
    for (const Impl::LeafGrad& l : s.leaf_grads) {
      text += "grad of ";
      name(l.leaf);
      text += " += ";
      name(l.grad);
      text += '\n';
    }
  return text;
}

namespace detail {
// Traces one backward pass of `result` into the step's program: every gradient is computed by an
// op (the backward formulas are made of ops), so each becomes an instruction after the forward's.
// The leaves are the inputs and the captured tensors that require gradients. A pass that cannot
// be traced (a user function's backward reading values) leaves the step to the engine.
void trace_backward_program(Trace& trace, const Tensor& result) {
  Compiled::Impl& step = trace.step;
  const size_t refs_before = step.ref_slots.size();
  std::vector<bool> written(step.slots.size(), false);
  for (const Instr& instr : step.instrs) written[instr.out_slot] = true;
  std::vector<Tensor> leaves;
  std::vector<size_t> leaf_slots;
  for (size_t k = 0; k < step.slots.size(); ++k)
    if (impl_of(step.slots[k])->requires_grad && (k < step.inputs || !written[k])) {
      leaves.push_back(step.slots[k]);
      leaf_slots.push_back(k);
    }
  if (leaves.empty()) return;
  Tensor seed;
  {
    TraceSuspend not_an_op;  // filled by each backward(), not computed by an instruction
    seed = make_tensor(result.shape(), result.dtype());
    std::memset(seed.raw_data(), 0, static_cast<size_t>(seed.numel()) * dtype_size(seed.dtype()));
  }
  step.seed = static_cast<size_t>(add_slot(trace, seed));
  std::vector<Tensor> grads;
  try {
    trace.in_backward = true;
    grads = trace_backward(result, seed, leaves);
    trace.in_backward = false;
  } catch (const Error&) {
    trace.in_backward = false;
    while (step.instrs.size() > step.forward) step.instrs.pop_back();
    step.ref_slots.resize(refs_before);
    return;
  }
  for (size_t k = 0; k < leaves.size(); ++k) {
    if (!grads[k].defined()) continue;
    auto it = trace.slot_of.find(impl_of(grads[k]));
    const size_t slot = it != trace.slot_of.end() ? static_cast<size_t>(it->second)
                                                  : static_cast<size_t>(add_slot(trace, grads[k]));  // a constant
    step.leaf_grads.push_back({leaf_slots[k], slot});
  }
  step.has_backward = true;
}
}  // namespace detail

namespace detail {
// Gives the values the instructions write one buffer, each at an offset assigned by liveness (as
// TFLite's arena planner: the largest first, each at the lowest offset free for its lifetime), so
// that a gradient's memory is reused once its last reader ran. The forward's values stay live to
// the end: the nodes saved them (the tape's backward may still run), and the caller may hold one.
// A value whose buffer another tensor shares (a view) keeps its own. A replay writes each value
// where it lies (the op is offered the slot's tensor); an op that allocates anyway takes its value
// out of the arena, which stays correct.
// Fusion: a run of consecutive blockable kernels (Kernel::grain) over results of one size and
// dtype, in one part (forward or backward), runs block by block, each block through every call
// of the run while it sits in L1. Every element still goes through the same calls in the same
// order, so the values are the unfused ones. Only runs longer than one block are fused.
void fuse(Compiled::Impl& step, int64_t block_bytes) {
  if (block_bytes <= 0) return;
  auto blockable = [&](const Instr& instr) {
    return instr.kernel.run && instr.kernel.grain > 0 && instr.view_of < 0;
  };
  const size_t end = step.instrs.size();
  for (size_t i = 0; i < end;) {
    const Instr& head = step.instrs[i];
    if (!blockable(head)) {
      ++i;
      continue;
    }
    const int64_t numel = head.out->numel;
    const Dtype dtype = head.out->dtype;
    int64_t grain = head.kernel.grain;
    size_t j = i + 1;
    for (; j < end && j != step.forward; ++j) {
      const Instr& m = step.instrs[j];
      if (!blockable(m) || m.out->numel != numel || m.out->dtype != dtype) break;
      if (m.kernel.grain != 1 && grain != 1 && m.kernel.grain != grain) break;
      grain = std::max(grain, m.kernel.grain);
    }
    const int64_t esize = static_cast<int64_t>(dtype_size(dtype));
    const int64_t block = std::max<int64_t>(grain, block_bytes / esize / grain * grain);
    if (j - i >= 2 && numel > block) {
      step.instrs[i].fused_end = static_cast<uint32_t>(j);
      step.instrs[i].block = block;
    }
    i = j;
  }
}

void plan_arena(Compiled::Impl& step) {
  const size_t n = step.slots.size(), end = step.instrs.size();
  constexpr size_t kUnwritten = SIZE_MAX;
  std::vector<size_t> first(n, kUnwritten), last(n, 0);
  for (size_t i = 0; i < end; ++i) {
    const Instr& instr = step.instrs[i];
    for (uint32_t j = 0; j < instr.count; ++j) {
      const size_t slot = step.input_slot(instr, j);
      last[slot] = std::max(last[slot], i);
    }
    first[instr.out_slot] = std::min(first[instr.out_slot], i);
  }
  // In a fused run, a block of a later call is written before the next block of an earlier one
  // is read or written: every buffer the run touches stays its own until the run ends.
  for (size_t i = 0; i < end; ++i) {
    const size_t run_end = step.instrs[i].fused_end;
    for (size_t m = i; m < run_end; ++m) {
      const Instr& instr = step.instrs[m];
      for (uint32_t j = 0; j < instr.count; ++j) {
        const size_t slot = step.input_slot(instr, j);
        last[slot] = std::max(last[slot], run_end - 1);
      }
      last[instr.out_slot] = std::max(last[instr.out_slot], run_end - 1);
    }
  }
  auto pin = [&](size_t slot) { last[slot] = end; };
  pin(step.result);
  for (const Compiled::Impl::LeafGrad& l : step.leaf_grads) pin(l.grad);
  for (size_t k = step.inputs; k < n; ++k)
    if (first[k] < step.forward) pin(k);
  // A buffer and the slots holding it (a value and its views), placed as one: it lives from the
  // first write of any of them to the last read of any. Only buffers that no tensor outside the
  // slots holds, and that no input or captured tensor shares, move.
  struct Block {
    Storage* storage;
    std::vector<size_t> slots;
    size_t bytes = 0, offset = 0, first = kUnwritten, last = 0;
    bool movable = true;
  };
  std::vector<Block> blocks;
  std::unordered_map<const Storage*, size_t> block_of;
  for (size_t k = 0; k < n; ++k) {
    Storage* st = impl_of(step.slots[k])->storage;
    auto [it, added] = block_of.emplace(st, blocks.size());
    if (added) blocks.push_back({st, {}, (st->bytes + 63) / 64 * 64});
    Block& b = blocks[it->second];
    b.slots.push_back(k);
    if (k < step.inputs || first[k] == kUnwritten) {
      b.movable = false;
      continue;
    }
    b.first = std::min(b.first, first[k]);
    b.last = std::max({b.last, last[k], first[k]});
  }
  std::erase_if(blocks, [](const Block& b) {
    return !b.movable || (b.storage->base && !b.storage->is_hollow()) || b.storage->bytes == 0 ||
           b.storage->refs.load(std::memory_order_relaxed) != static_cast<int32_t>(b.slots.size());
  });
  std::stable_sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) { return a.bytes > b.bytes; });
  size_t total = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    std::vector<const Block*> live;  // placed blocks whose lifetimes meet this one's
    for (size_t p = 0; p < b; ++p)
      if (blocks[p].first <= blocks[b].last && blocks[b].first <= blocks[p].last) live.push_back(&blocks[p]);
    std::sort(live.begin(), live.end(), [](const Block* x, const Block* y) { return x->offset < y->offset; });
    size_t offset = 0;
    for (const Block* p : live) {
      if (p->offset >= offset + blocks[b].bytes) break;
      offset = std::max(offset, p->offset + p->bytes);
    }
    blocks[b].offset = offset;
    total = std::max(total, offset + blocks[b].bytes);
  }
  if (total == 0) return;
  // The arena's pages become resident as they are written. The traced buffers go back to the
  // system as they move, so that they and the arena are not resident together (a compiled step's
  // peak memory is its trace's, not the trace's plus the arena): first the backward's, whose
  // values (computed from a zero seed) need no copy, then the forward's, copied (a tensor kept
  // from the trace shows the traced values until the first call).
  step.arena = Storage::create(total);
  step.arena_bytes = total;
  for (const bool backward_part : {true, false}) {
    for (const Block& b : blocks) {
      if ((b.first >= step.forward) != backward_part) continue;
      Storage* old = b.storage;
      Storage* w = Storage::window(step.arena, b.offset, old->bytes);
      if (!backward_part && !old->is_hollow()) std::memcpy(w->data, old->data, old->bytes);
      w->version = old->version;
      w->last_writer = old->last_writer;
      const bool large = old->bytes >= (size_t{1} << 16);
      for (size_t k = 0; k < b.slots.size(); ++k) {
        if (k > 0) w->retain();
        impl_of(step.slots[b.slots[k]])->storage = w;
        old->release();
      }
      if (large) release_cached();  // before the next copy makes more of the arena resident
    }
    release_cached();
  }
}
}  // namespace detail

Compiled compile(const TensorFn& fn, const std::vector<Tensor>& example_inputs, CompileOptions options) {
  if (!fn) throw Error("compile: the function is empty");
  if (detail::active_trace) throw Error("compile: called while another function is being compiled on this thread");
  auto step = std::make_unique<Compiled::Impl>();
  step->tape = std::make_unique<detail::TapeImpl>();
  step->tape->mark_compiled();
  // 31 bits (hook_mark keeps one for "traced"); 0 marks a tensor made outside any compile().
  uint32_t serial = ++detail::compiles_begun & 0x7fffffffu;
  if (serial == 0) serial = ++detail::compiles_begun & 0x7fffffffu;
  detail::Trace trace(*step, serial, options.allow_host_reads);
  step->recorded = detail::grad_enabled;
  for (size_t k = 0; k < example_inputs.size(); ++k) {
    const Tensor& x = example_inputs[k];
    if (!x.defined()) throw Error("compile: example input " + std::to_string(k) + " is undefined");
    if (impl_of(x)->node >= 0)
      throw Error("compile: example input " + std::to_string(k) + ", a " + x.shape().str() +
                  " tensor, is the result of a recorded op; a compiled step's inputs are leaves (pass x.detach(), "
                  "with requires_grad(true) if it needs a gradient)");
    if (trace.slot_of.count(impl_of(x)))
      throw Error("compile: example inputs " + std::to_string(trace.slot_of.at(impl_of(x))) + " and " +
                  std::to_string(k) + " are the same tensor; pass one input and use it twice in the function");
    detail::add_slot(trace, x);
    trace.fresh.insert(impl_of(x)->storage);  // a view of an input made outside the ops is caught
    step->shapes.push_back(x.shape());
    step->dtypes.push_back(x.dtype());
    step->grads.push_back(x.requires_grad());
  }
  step->inputs = example_inputs.size();

  Tensor result;
  bool computed = false;
  {
    detail::TapeImpl* previous = detail::TapeImpl::exchange_current(step->tape.get());
    struct Restore {
      detail::TapeImpl* tape;
      std::vector<Tensor>& slots;
      ~Restore() {
        detail::TapeImpl::exchange_current(tape);
        detail::active_trace = nullptr;
        for (const Tensor& t : slots) detail::clear_traced(*impl_of(t));
      }
    } restore{previous, step->slots};
    for (size_t k = 0; k < step->inputs; ++k) detail::mark_input(*impl_of(step->slots[k]));
    detail::active_trace = &trace;
    detail::HooksScope hooks(&trace);
    result = fn(example_inputs);
    if (!result.defined()) throw Error("compile: the function returned an undefined tensor");
    auto it = trace.slot_of.find(impl_of(result));
    computed = detail::is_traced(*impl_of(result)) && it != trace.slot_of.end() &&
               static_cast<size_t>(it->second) >= step->inputs;
    step->forward = step->instrs.size();
    if (computed && result.requires_grad() && detail::grad_enabled) detail::trace_backward_program(trace, result);
  }
  if (!computed)
    throw Error("compile: the function returned a " + result.shape().str() +
                " tensor that no op computed inside it (an input, a captured tensor or a constant); a compiled step "
                "replays the ops that compute its result");
  step->result = static_cast<size_t>(trace.slot_of.at(impl_of(result)));
  step->refs.reserve(step->ref_slots.size());
  for (int32_t s : step->ref_slots) step->refs.push_back(std::cref(step->slots[static_cast<size_t>(s)]));
  step->ref_slots = {};
  std::vector<bool> written(step->slots.size(), false);
  for (const detail::Instr& instr : step->instrs) {
    written[instr.out_slot] = true;
    step->written.push_back(instr.out);
  }
  std::sort(step->written.begin(), step->written.end());
  for (size_t k = 0; k < step->slots.size(); ++k) {
    const bool grad = impl_of(step->slots[k])->requires_grad;
    if (k >= step->inputs && !written[k]) step->captured.push_back({k, grad});
    if (k < step->inputs || !written[k]) step->any_grad |= grad;
  }
  if (step->has_backward) {
    std::vector<bool> in_backward(step->slots.size(), false);  // written by a backward instruction
    for (size_t i = step->forward; i < step->instrs.size(); ++i) in_backward[step->instrs[i].out_slot] = true;
    // Besides what the backward instructions read, every value a node saved: eagerly, backward()
    // refuses a pass over a node whose input or output changed in place, read or not.
    std::vector<bool> listed(step->slots.size(), false);
    auto list = [&](size_t slot) {
      if (in_backward[slot] || slot == step->seed || listed[slot]) return;
      listed[slot] = true;
      step->backward_reads.push_back(slot);
    };
    for (size_t i = 0; i < step->instrs.size(); ++i) {
      const detail::Instr& instr = step->instrs[i];
      if (i < step->forward && instr.node < 0) continue;
      for (uint32_t j = 0; j < instr.count; ++j)
        list(step->input_slot(instr, j));
      if (i < step->forward) list(instr.out_slot);
    }
    step->call_version.assign(step->slots.size(), 0);
    step->writer_of.assign(step->slots.size(), -1);
    for (size_t i = 0; i < step->forward; ++i) step->writer_of[step->instrs[i].out_slot] = static_cast<int32_t>(i);
    for (size_t slot : step->backward_reads)
      if (step->writer_of[slot] < 0) step->outside_reads.push_back(slot);
    step->tape->step_backward = step.get();
    if (options.grads_in_program) {
      std::vector<int> uses(step->slots.size(), 0);
      for (const Compiled::Impl::LeafGrad& l : step->leaf_grads) ++uses[l.grad];
      for (Compiled::Impl::LeafGrad& l : step->leaf_grads) {
        const detail::TensorImpl* g = impl_of(step->slots[l.grad]);
        l.in_program = in_backward[l.grad] && uses[l.grad] == 1 && !g->requires_grad && g->node < 0 &&
                       g->shape == impl_of(step->slots[l.leaf])->shape;
      }
    }
  }
  // Each call's kernel form, planned once at the traced shapes.
  for (detail::Instr& instr : step->instrs) {
    if (instr.count > detail::kKernelInputs) continue;
    const detail::ArgSlot& args = instr.node >= 0 ? step->tape->node(static_cast<size_t>(instr.node)).args : instr.args;
    instr.op->kernel(detail::Inputs(step->refs.data() + instr.first, instr.count), args, step->slots[instr.out_slot],
                     instr.kernel);
  }
  detail::fuse(*step, options.fuse_block_bytes);
  detail::plan_arena(*step);
  for (const Tensor& t : step->slots) {  // a value freed while traced that has no place in the arena
    detail::Storage*& st = impl_of(t)->storage;
    if (!st->is_hollow()) continue;
    detail::Storage* real = detail::Storage::create(st->bytes);
    real->version = st->version;
    st->release();
    st = real;
  }
  {
    std::unordered_map<const detail::Storage*, int32_t> holders;
    for (const Tensor& t : step->slots) ++holders[impl_of(t)->storage];
    for (detail::Instr& instr : step->instrs) {
      instr.out_storage = instr.out->storage;
      instr.sharers = holders[instr.out->storage];
      instr.kernel_holders = instr.kernel.run && !instr.fused_end && instr.view_of < 0 ? instr.sharers : -1;
      instr.run = instr.kernel.run;
      const bool has_node = instr.node >= 0;
      instr.refresh = static_cast<uint8_t>((has_node ? 2 : 0) | (has_node && !step->has_backward ? 1 : 0));
      step->refreshes |= instr.refresh;
    }
    step->readers.resize(step->slots.size());
    for (size_t i = 0; i < step->instrs.size(); ++i)
      for (uint32_t j = 0; step->instrs[i].kernel.run && j < step->instrs[i].count; ++j)
        step->readers[step->input_slot(step->instrs[i], j)].emplace_back(static_cast<uint32_t>(i), j);
  }
  Compiled compiled;
  compiled.impl_ = std::move(step);
  return compiled;
}

bool Compiled::Impl::unchanged_since_call() const {
  // A write since the call (or another step's replay, which may write a tensor this one reads)
  // sends the pass through the versions of what it reads.
  if (detail::in_place_writes.load(std::memory_order_relaxed) != writes_at_call) [[unlikely]]
    for (size_t slot : backward_reads)
      if (impl_of(slots[slot])->storage->version != version_at_call(slot)) return false;
  return true;
}

bool Compiled::Impl::run(const Tensor& root, const Tensor& upstream) {
  if (!has_backward || !root.is_same(slots[result]) || !unchanged_since_call()) return false;
  const detail::TensorImpl* u = impl_of(upstream);
  detail::TensorImpl* g = impl_of(slots[seed]);
  std::memcpy(g->storage->data, u->storage->data, static_cast<size_t>(g->numel) * dtype_size(g->dtype));
  run_backward_part();
  return true;
}

bool Compiled::Impl::run_from_one() {
  if (!has_backward || !unchanged_since_call()) return false;
  detail::TensorImpl* g = impl_of(slots[seed]);
  if (g->dtype == Dtype::f32) std::fill_n(static_cast<float*>(g->storage->data), g->numel, 1.0f);
  else std::fill_n(static_cast<double*>(g->storage->data), g->numel, 1.0);
  run_backward_part();
  return true;
}

void Compiled::Impl::run_backward_part() {
  impl_of(slots[seed])->storage->bump(detail::kReplayWriter);
  detail::GradMode no_recording(false);
  // A grad() that is still the program's buffer holds the last pass's gradient, which this pass
  // overwrites: it becomes a copy, to which this pass's is added.
  for (const LeafGrad& l : leaf_grads) {
    Tensor& grad = impl_of(slots[l.leaf])->grad;
    if (l.in_program && grad.is_same(slots[l.grad])) [[unlikely]]
      grad = detail::copy_of(grad);
  }
  replay(forward, instrs.size());
  for (const LeafGrad& l : leaf_grads) {
    Tensor& grad = impl_of(slots[l.leaf])->grad;
    if (l.in_program && !grad.defined()) grad = slots[l.grad];
    else detail::add_into_grad(grad, slots[l.grad]);
  }
}

void Compiled::backward_from_one(const Tensor& result) {
  Impl& s = *impl_;
  // The program where Tensor::backward() would run it (and as it would leave the step); the
  // engine, through backward(), wherever else.
  if (!result.is_same(s.slots[s.result]) || detail::anomaly_on ||
      s.tape->step_state != detail::TapeImpl::StepState::ready || !s.run_from_one()) {
    result.backward();
    return;
  }
  s.tape->step_state = detail::TapeImpl::StepState::consumed;
}

bool Compiled::Impl::run_fused(size_t begin, bool anomaly) {
  const size_t end = instrs[begin].fused_end;
  for (size_t m = begin; m < end; ++m)
    if (instrs[m].out_storage->refs.load(std::memory_order_relaxed) != instrs[m].sharers) return false;
  const int64_t numel = instrs[begin].out->numel, block = instrs[begin].block;
  const int64_t esize = static_cast<int64_t>(dtype_size(instrs[begin].out->dtype));
  // The blocks are independent: a large run's blocks are shared out over the threads, each block
  // computed as on one thread (the kernels' own loops stay on one thread: a block is small).
  auto run_block = [&](int64_t bi, int) {
    const int64_t b = bi * block, len = std::min(block, numel - b);
    for (size_t m = begin; m < end; ++m) {
      const detail::Instr& x = instrs[m];
      detail::Kernel k = x.kernel;
      k.size[0] = len / k.grain;
      const void* in[detail::kKernelInputs];
      for (uint32_t j = 0; j < x.count; ++j)
        in[j] = (k.fixed >> j & 1) ? x.in[j] : static_cast<const char*>(x.in[j]) + b * esize;
      k.run(k, in, static_cast<char*>(x.out_storage->data) + b * esize);
    }
  };
  const int64_t blocks = (numel + block - 1) / block;
  if (numel < detail::kParallelElements) [[likely]] {
    for (int64_t bi = 0; bi < blocks; ++bi) run_block(bi, 0);
  } else {
    detail::for_parts(num_threads(), blocks, run_block);
  }
  for (size_t m = begin; m < end; ++m) {
    detail::Instr& x = instrs[m];
    x.out_storage->bump(detail::kReplayWriter);
    x.version_after = x.out_storage->version;
    if (x.refresh & (anomaly ? 2 : 1)) refresh_node(x, anomaly);
  }
  return true;
}

void Compiled::Impl::replay(size_t begin, size_t end) {
  const bool anomaly = detail::anomaly_on;
  detail::GradMode no_recording(false);  // ops a forward calls inside itself record nothing
  detail::Replay hooks_replay;
  detail::HooksScope hooks(&hooks_replay);
  detail::in_place_writes.fetch_add(1, std::memory_order_relaxed);  // this replay's writes
  if (detail::storage_moves.load(std::memory_order_relaxed) != known_moves) [[unlikely]] resolve_all();
  detail::Instr* const first = instrs.data();
  // Nodes to refresh are the exception (a step without a program backward, anomaly mode): the
  // loop without the test is the one a scalar graph's thousands of instructions run through.
  if (refreshes & (anomaly ? 2 : 1)) [[unlikely]]
    replay_loop<true>(first + begin, first + end, hooks_replay, anomaly);
  else
    replay_loop<false>(first + begin, first + end, hooks_replay, anomaly);
}

template <bool kRefresh>
void Compiled::Impl::replay_loop(detail::Instr* at, detail::Instr* const stop, detail::Replay& hooks_replay,
                                 bool anomaly) {
  const char* const writer = detail::kReplayWriter;
  const uint8_t refresh_when = anomaly ? 2 : 1;
  for (; at != stop; ++at) {
    // The kernel form writes the slot's buffer in place, which only the slot (and its views in
    // the program) may hold: a tensor kept outside that shares it keeps its values (replay_other).
    detail::Storage* const st = at->out_storage;
    if (st->refs.load(std::memory_order_relaxed) == at->kernel_holders) [[likely]] {
      at->run(at->kernel, at->in, st->data);
      const uint32_t version = st->version + 1;  // Storage::bump, its version kept for version_after
      st->version = version;
      st->last_writer = writer;
      at->version_after = version;
      if constexpr (kRefresh)
        if (at->refresh & refresh_when) refresh_node(*at, anomaly);
      continue;
    }
    at = replay_other(at, hooks_replay, anomaly);
  }
}

detail::Instr* Compiled::Impl::replay_other(detail::Instr* at, detail::Replay& replay, bool anomaly) {
  detail::Instr* const first = instrs.data();
  detail::Instr& instr = *at;
  const uint8_t refresh_when = anomaly ? 2 : 1;
  detail::Storage* const st = instr.out_storage;
  const int32_t holders = st->refs.load(std::memory_order_relaxed);
  auto run_kernel = [&] {
    instr.kernel.run(instr.kernel, instr.in, st->data);
    st->bump(detail::kReplayWriter);
    instr.version_after = st->version;
    if (instr.refresh & refresh_when) refresh_node(instr, anomaly);
  };
  if (instr.fused_end) {
    if (run_fused(static_cast<size_t>(at - first), anomaly)) return first + instr.fused_end - 1;
    if (holders == instr.sharers) {  // the run's first result is the program's alone, a later one is not
      run_kernel();
      return at;
    }
  }
  if (instr.view_of >= 0) {
    detail::Storage* from = impl_of(refs[instr.first + static_cast<uint32_t>(instr.view_of)].get())->storage;
    if (instr.out->storage != from) {  // a new input, or a value an op wrote elsewhere
      from->retain();
      instr.out->storage->release();
      instr.out->storage = from;
      instr.out_storage = from;
      moved(instr.out_slot);
    }
    instr.version_after = from->version;
    if (instr.refresh & refresh_when) refresh_node(instr, anomaly);
    return at;
  }
  // A recorded op runs on its node's arguments: a forward that leaves state there for its
  // backward (the winners of max along an axis) must leave it where the backward reads it.
  detail::ArgSlot& args = instr.node >= 0 ? tape->node(static_cast<size_t>(instr.node)).args : instr.args;
  const detail::Inputs in(refs.data() + instr.first, instr.count);
  // The result's buffer is reused when no other tensor shares it (a view of it, kept).
  const bool offer = instr.recycle && holders == instr.sharers;
  replay.offer = offer ? instr.out : nullptr;
  replay.taken = false;
  Tensor out = instr.op->run(in, args);
  replay.offer = nullptr;
  detail::TensorImpl* o = impl_of(out);
  if (o != instr.out && replay.taken) [[unlikely]] {
    // The op took the offer for a temporary: its result is elsewhere, and the offered tensor
    // may be held by what the op keeps. Run it again, unoffered, from now on.
    instr.recycle = false;
    out = Tensor();
    out = instr.op->run(in, args);
    o = impl_of(out);
  }
  // The slot's values change: a node recorded outside the step that saved it (an eager op on
  // the result) must see a new version, as after any in-place write.
  if (o != instr.out) {
    if (o->shape != instr.out->shape || o->dtype != instr.out->dtype) [[unlikely]]
      detail::throw_changed_shape(instr, static_cast<size_t>(at - first), *o);
    const uint32_t version = instr.out->storage->version;
    std::swap(o->storage, instr.out->storage);  // the old buffer goes with `out`
    moved(instr.out_slot);
    detail::Storage* fresh = instr.out->storage;
    if (fresh->refs.load(std::memory_order_relaxed) == 1) {  // not a view of another slot's buffer
      fresh->version = version;
      fresh->bump(detail::kReplayWriter);
    }
  } else {
    instr.out->storage->bump(detail::kReplayWriter);
  }
  instr.out_storage = instr.out->storage;
  instr.version_after = instr.out->storage->version;
  if (instr.refresh & refresh_when) refresh_node(instr, anomaly);
  return at;
}

void Compiled::Impl::sync_nodes() {
  if (!nodes_stale) return;
  for (size_t i = 0; i < forward; ++i) {
    const detail::Instr& instr = instrs[i];
    if (instr.node < 0) continue;
    detail::Node& n = tape->node(static_cast<size_t>(instr.node));
    for (uint32_t j = 0; j < instr.count; ++j)
      n.inputs.set_version(j, version_at_call(input_slot(instr, j)));
    n.output_version = version_at_call(instr.out_slot);
  }
  nodes_stale = false;
}

// The node of a replayed instruction sees the versions of this call's values.
void Compiled::Impl::refresh_node(const detail::Instr& instr, bool anomaly) {
  detail::Node& n = tape->node(static_cast<size_t>(instr.node));
  for (size_t j = 0; j < n.inputs.size(); ++j) n.inputs.set_version(j, impl_of(n.inputs[j])->storage->version);
  n.output_version = instr.out->storage->version;
  if (anomaly) [[unlikely]]
    detail::check_finite_forward(n.name(), slots[instr.out_slot], static_cast<size_t>(instr.node));
}

Tensor Compiled::operator()(const std::vector<Tensor>& inputs) { return call(inputs, false); }

Tensor Compiled::call(const std::vector<Tensor>& inputs, bool known_fresh) {
  if (!impl_) throw Error("compiled step: it is empty (default-constructed or moved from); make it with tg::compile");
  Impl& s = *impl_;
  if (detail::active_trace) throw Error("compiled step: called while compile() records a function on this thread");
  if (!s.tape->owned_here())
    throw Error("compiled step: called on another thread than the one that compiled it (tapes are per thread)");
  if (inputs.size() != s.inputs)
    throw Error("compiled step: given " + std::to_string(inputs.size()) + " inputs, compiled for " +
                std::to_string(s.inputs));
  for (size_t k = 0; k < s.inputs; ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined()) throw Error("compiled step: input " + std::to_string(k) + " is undefined");
    const detail::TensorImpl* t = impl_of(x);
    if (t->shape != s.shapes[k] || t->dtype != s.dtypes[k]) [[unlikely]]
      throw Error("compiled step: input " + std::to_string(k) + " is " +
                  detail::signature(t->shape, t->dtype, t->requires_grad) + ", but the step was compiled for " +
                  detail::signature(s.shapes[k], s.dtypes[k], s.grads[k]) +
                  " (compile again for the new shape, or use tg::CompiledCache)");
    if (t->requires_grad != s.grads[k]) [[unlikely]]
      throw Error("compiled step: input " + std::to_string(k) + " is " +
                  detail::signature(t->shape, t->dtype, t->requires_grad) + ", but the step was compiled for " +
                  detail::signature(s.shapes[k], s.dtypes[k], s.grads[k]) +
                  ": its requires_grad differs, and the step's nodes were recorded for the other setting; compile "
                  "again with the input marked as it will be passed, or use tg::CompiledCache (one step per "
                  "signature, requires_grad included)");
    if (t->node >= 0)
      throw Error("compiled step: input " + std::to_string(k) + ", a " + t->shape.str() +
                  " tensor, is the result of a recorded op; a compiled step's inputs are leaves (pass x.detach())");
  }
  if (!known_fresh && (!s.captured.empty() || !s.guards.empty() || !s.recorded)) [[unlikely]] {
    const std::string why = s.stale();
    if (!why.empty()) throw Error("compiled step: " + why);
  }
  for (size_t k = 0; k < s.inputs; ++k) {
    const detail::TensorImpl* t = impl_of(inputs[k]);
    if (s.slots[k].is_same(inputs[k])) continue;  // the last call's input, checked then
    // An input that is one of the step's own results (x = step({x})): the replay would overwrite
    // it while the ops still read it, so the step reads a copy (which its nodes save, too).
    if (std::binary_search(s.written.begin(), s.written.end(), t)) [[unlikely]] {
      if (t->requires_grad)  // its gradient would go to the copy
        throw Error("compiled step: input " + std::to_string(k) + " is one of the step's own results, marked "
                    "requires_grad(true); the replay overwrites it, so pass a copy: x.detach().clone().requires_grad(true)");
      s.slots[k] = detail::copy_of(inputs[k]);
      s.moved(k);
    }
    else {
      s.slots[k] = inputs[k];
      s.moved(k);
    }
  }
  detail::TapeImpl& tape = *s.tape;
  for (const Impl::InputUse& u : s.input_uses) tape.node(u.node).inputs.set(u.position, s.slots[u.input]);
  // Until the last instruction ran, the slots mix two calls: a backward() then is refused.
  tape.step_state = detail::TapeImpl::StepState::failed;
  const bool grad_on = detail::grad_enabled;
  s.replay(0, s.forward);
  for (size_t slot : s.outside_reads) s.call_version[slot] = impl_of(s.slots[slot])->storage->version;
  s.writes_at_call = detail::in_place_writes.load(std::memory_order_relaxed);
  s.nodes_stale = s.has_backward;
  tape.step_state = detail::TapeImpl::StepState::ready;
  // Under NoGradGuard the result needs no gradient, as eagerly: a view that is not on the tape.
  if (!grad_on) [[unlikely]] return detail::make_view(s.slots[s.result], s.slots[s.result].shape());
  return s.slots[s.result];
}

bool is_compiling() { return detail::active_trace != nullptr; }

void compile_depends_on(std::shared_ptr<const bool> flag, const std::string& what) {
  if (!detail::active_trace || !flag) return;
  std::vector<Compiled::Impl::Guard>& guards = detail::active_trace->step.guards;
  for (const Compiled::Impl::Guard& g : guards)
    if (g.flag == flag) return;
  const bool value = *flag;
  guards.push_back({std::move(flag), value, what});
}

CompiledCache::CompiledCache(TensorFn fn, CompileOptions options, size_t capacity)
    : fn_(std::move(fn)), options_(options), capacity_(std::max<size_t>(capacity, 1)) {
  if (!fn_) throw Error("CompiledCache: the function is empty");
}

Compiled& CompiledCache::step_for(const std::vector<Tensor>& inputs) {
  for (size_t e = entries_.size(); e-- > 0;) {
    Entry& entry = entries_[e];
    bool same = entry.shapes.size() == inputs.size();
    for (size_t k = 0; same && k < inputs.size(); ++k) {
      const detail::TensorImpl* t = impl_of(inputs[k]);
      same = t && t->shape == entry.shapes[k] && t->dtype == entry.dtypes[k] && t->requires_grad == entry.grads[k];
    }
    if (!same) continue;
    if (entry.step.stale()) {  // a captured tensor's requires_grad or a layer's mode changed: again
      entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(e));
      break;
    }
    if (e + 1 != entries_.size()) std::rotate(entries_.begin() + static_cast<ptrdiff_t>(e),
                                              entries_.begin() + static_cast<ptrdiff_t>(e) + 1, entries_.end());
    return entries_.back().step;
  }
  Entry entry;
  for (const Tensor& x : inputs) {
    if (!x.defined()) break;  // compile() names it
    entry.shapes.push_back(x.shape());
    entry.dtypes.push_back(x.dtype());
    entry.grads.push_back(x.requires_grad());
  }
  entry.step = compile(fn_, inputs, options_);
  ++compilations_;
  if (entries_.size() == capacity_) entries_.erase(entries_.begin());
  entries_.push_back(std::move(entry));
  return entries_.back().step;
}

}  // namespace tapegrad
