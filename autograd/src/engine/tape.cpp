// The tape's life cycle: node slots handed out, released, collected and reused.
#include <memory>

#include "engine/node.h"

namespace tapegrad {

namespace detail {
namespace {
TG_TLS thread_local TapeImpl* tls_tape = nullptr;
TG_TLS thread_local const TapeImpl* tls_own_tape = nullptr;  // the thread's eager tape, whatever is current
}  // namespace

TapeImpl::TapeImpl() { pool_init(); }

// Releasing every node also unlinks the tensors they produced, so none points at this tape; they
// remember why, for the error of a later backward().
TapeImpl::~TapeImpl() {
  exiting_ = true;
  clear();
}

TapeImpl& TapeImpl::current() {
  if (!tls_tape) [[unlikely]] {
    thread_local std::unique_ptr<TapeImpl> owner(new TapeImpl);  // destroyed at thread exit
    tls_tape = owner.get();
    tls_own_tape = tls_tape;
  }
  return *tls_tape;
}

TapeImpl* TapeImpl::exchange_current(TapeImpl* tape) {
  TapeImpl* previous = &current();
  tls_tape = tape;
  return previous;
}

void TapeImpl::mark_compiled() {
  compiled_ = true;
  owner_ = &tls_tape;
}

bool TapeImpl::owned_here() const { return owner_ == &tls_tape; }

bool TapeImpl::is_this_threads() const {
  if (!tls_own_tape) (void)current();  // no eager tape yet: make it (compile() switched away before)
  return this == tls_own_tape;
}

Node& TapeImpl::push() {
  if (used_ > 0 && finished_ == used_) {
    used_ = finished_ = 0;
    dead_pending_ = 0;
  } else if (dead_pending_ > 256 && dead_pending_ * 4 > used_ - finished_ && !holding_) {
    collect();
  }
  if (used_ == nodes_.size()) nodes_.emplace_back();
  Node& n = nodes_[used_++];
  n.dead = n.finished = false;
  return n;
}

void TapeImpl::release(size_t index) {
  Node& n = nodes_[index];
  if (n.finished) return;
  n.finished = true;
  ++finished_;
  if (n.dead) --dead_pending_;
  if (n.output) {
    n.output->node = -1;
    n.output->graph_released = true;
    n.output->tape_exited = exiting_;
    n.output->step_released = compiled_;  // only the step's destruction releases a compiled tape's nodes
    n.output = nullptr;
  }
  // Clearing inputs may destroy tensors whose own nodes (earlier on the tape) then become dead;
  // callers sweep in reverse order, so those are reached later in the same loop.
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    TensorImpl* t = impl_of(n.inputs[k]);
    if (t->node >= 0 && t->tape == this && (t->grad.defined() || t->grad_in_parts)) nodes_[static_cast<size_t>(t->node)].pin = n.inputs[k];
  }
  n.inputs.clear();
  if (!n.op->trivial_args()) n.op->destroy(n.args);
  n.pin = Tensor();
}

void TapeImpl::on_output_destroyed(int64_t index) {
  Node& n = nodes_[static_cast<size_t>(index)];
  n.output = nullptr;
  n.dead = true;
  ++dead_pending_;
}

void TapeImpl::collect() {
  if (holding_) return;
  for (size_t i = used_; i-- > 0;)
    if (nodes_[i].dead && !nodes_[i].finished) release(i);
  while (used_ > 0 && nodes_[used_ - 1].finished) {
    --used_;
    --finished_;
  }
}

void TapeImpl::clear() {
  for (size_t i = used_; i-- > 0;) release(i);
  used_ = finished_ = dead_pending_ = 0;
}

void TapeImpl::shrink() {
  if (used_ == 0 || finished_ == used_) {
    used_ = finished_ = dead_pending_ = 0;
    nodes_.clear();
    nodes_.shrink_to_fit();
  }
}
}  // namespace detail

using detail::impl_of;

Tape& Tape::current() { return detail::TapeImpl::current(); }
size_t Tape::live_nodes() const { return impl_of(*this).live_nodes(); }
size_t Tape::size() const { return impl_of(*this).size(); }
std::vector<NodeView> Tape::nodes_of(const Tensor& root) const { return impl_of(*this).nodes_of(root); }
void Tape::clear() { impl_of(*this).clear(); }
void Tape::shrink() { impl_of(*this).shrink(); }
void Tape::collect() { impl_of(*this).collect(); }

}  // namespace tapegrad
