#pragma once
/// \file tensor.h
/// The Tensor handle: a dense row-major array of float, double or int64 that can record itself on the tape.
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/error.h"
#include "tapegrad/core/shape.h"

namespace tapegrad {

/// The object behind a Tensor handle; opaque outside the library.
struct TensorImpl;

/// Options for Tensor::backward.
struct BackwardOptions {
  /// Keep the recorded nodes after backward so that backward can run through them again.
  bool retain_graph = false;
  /// Record the backward pass itself, so that the gradients it leaves in grad() are
  /// differentiable tensors (double backward). Implies retain_graph.
  bool create_graph = false;
};

/// A cheap handle to a dense, contiguous, row-major tensor. Copying a Tensor shares its storage
/// (as torch::Tensor does); use clone() for a deep copy. A default-constructed Tensor is undefined.
class Tensor {
 public:
  /// An undefined tensor (no storage); assign to it later.
  Tensor() = default;
  /// Shares `other`'s storage and autograd state.
  Tensor(const Tensor& other) : impl_(other.impl_) {
    if (impl_) retain(impl_);
  }
  /// Takes over `other`'s handle.
  Tensor(Tensor&& other) noexcept : impl_(other.impl_) { other.impl_ = nullptr; }
  /// Shares `other`'s storage and autograd state.
  Tensor& operator=(const Tensor& other) {
    if (other.impl_) retain(other.impl_);
    TensorImpl* old = impl_;
    impl_ = other.impl_;
    if (old) release(old);
    return *this;
  }
  /// Takes over `other`'s handle.
  Tensor& operator=(Tensor&& other) noexcept {
    if (this == &other) return *this;
    TensorImpl* old = impl_;
    impl_ = other.impl_;
    other.impl_ = nullptr;
    if (old) release(old);  // also when `other` shared it: that was a reference of its own
    return *this;
  }
  ~Tensor() {
    if (impl_) release(impl_);
  }

  /// True unless default-constructed.
  bool defined() const { return impl_ != nullptr; }
  /// Sizes of the dimensions.
  const Shape& shape() const;
  /// Number of dimensions.
  size_t dim() const { return shape().size(); }
  /// Size of dimension `axis` (negative counts from the end).
  int64_t size(int64_t axis) const;
  /// Element type.
  Dtype dtype() const;
  /// Number of elements.
  int64_t numel() const;
  /// The value of a rank-0 or one-element tensor, as double.
  double item() const;
  /// The element at a full index, as double; throws on a wrong rank or an index out of range.
  double at(std::initializer_list<int64_t> index) const;
  /// The element at a full index, as double.
  double at(const std::vector<int64_t>& index) const;
  /// Copy of the elements converted to T (float, double or int64_t), row-major. A float that has
  /// no int64 value (NaN, infinite, out of range) is an error, never a number.
  template <class T>
  std::vector<T> to_vector() const;
  /// Pointer to the elements; T must match dtype().
  template <class T>
  const T* data() const;
  /// Mutable pointer to the elements; T must match dtype(). Writing through it bypasses the
  /// version counter, so prefer the in-place methods on tensors saved for backward.
  template <class T>
  T* data();
  /// Untyped pointer to the first element.
  const void* raw_data() const;
  /// Mutable untyped pointer to the first element.
  void* raw_data();
  /// A copy converted to `d` (this tensor, shared, if it already has dtype `d`); differentiable.
  Tensor to(Dtype d) const;
  /// A deep copy with its own storage; differentiable, as torch's clone() (the gradient passes
  /// through unchanged). detach().clone() gives an independent leaf.
  Tensor clone() const;
  /// The same storage, cut from the tape: a leaf that does not require gradients.
  Tensor detach() const;

  /// Marks this tensor as a leaf whose gradient backward() accumulates; returns this handle.
  Tensor requires_grad(bool on) const;
  /// True if gradients flow to this tensor (a marked leaf or the output of a recorded op).
  bool requires_grad() const;
  /// True for a tensor not produced by a recorded op.
  bool is_leaf() const;
  /// The gradient accumulated by backward() (same shape and dtype); zeros if none was accumulated
  /// yet. Throws for a tensor that does not require gradients, and for a non-leaf.
  Tensor grad() const;
  /// True once backward() has accumulated a gradient into this tensor.
  bool has_grad() const;
  /// Sets the accumulated gradient to zero.
  void zero_grad();
  /// Replaces the accumulated gradient (used by optimizers and clipping); shape must match.
  void set_grad(const Tensor& g);

  /// Replays the tape in reverse from this scalar, accumulating gradients into leaves.
  void backward(BackwardOptions options = {}) const;
  /// Replays the tape in reverse from this tensor with upstream gradient `upstream` (same shape).
  void backward(const Tensor& upstream, BackwardOptions options = {}) const;

  /// In place: this += alpha * other (same shape and dtype); not recorded; bumps the version.
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  /// In place: this *= s; not recorded; bumps the version.
  Tensor& mul_(double s);
  /// In place: every element = v; not recorded; bumps the version.
  Tensor& fill_(double v);
  /// In place: copies `src`'s values (same shape; converts dtype); not recorded; bumps the version.
  Tensor& copy_(const Tensor& src);
  /// Number of in-place modifications of the storage so far (the version counter).
  uint32_t version() const;

  /// Human-readable text: values (abridged when large), shape and dtype.
  std::string str() const;

  /// Number of handles that refer to this tensor, the library's own included (0 if undefined).
  int64_t use_count() const;
  /// True if both handles refer to the same tensor (not merely equal values), as torch's is_same.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  static void retain(TensorImpl* impl) noexcept;
  static void release(TensorImpl* impl) noexcept;
  // The library's own code reaches the object through these (defined in its private headers).
  friend TensorImpl* impl_of(const Tensor& t) noexcept;
  friend Tensor adopt(TensorImpl* impl) noexcept;
  TensorImpl* impl_ = nullptr;
};

/// Tensors with names, in a stable order: state dicts, checkpoints, optimizer state.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Prints values, shape and dtype.
std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// Nested lists of values, as taken by tensor(); rank 0 to 3.
using List1 = std::initializer_list<double>;
/// A list of List1 (rank 2).
using List2 = std::initializer_list<List1>;
/// A list of List2 (rank 3).
using List3 = std::initializer_list<List2>;

/// A rank-0 tensor holding `value`.
Tensor tensor(double value, Dtype dtype = Dtype::f32);
/// A rank-1 tensor from `values` (what tensor() of a flat list calls).
Tensor tensor_rank1(const std::vector<double>& values, Dtype dtype = Dtype::f32);
/// A rank-2 tensor from nested lists (what tensor() of a nested list calls).
Tensor tensor_rank2(List2 values, Dtype dtype = Dtype::f32);

/// A rank-1 tensor from a list, e.g. `tensor({0.35, 0.35})`. (A template only so that a list
/// of one-element lists, `{{0.0}, {1.0}}`, is read as the rank-2 column it looks like.)
template <class T = double>
Tensor tensor(std::initializer_list<T> values, Dtype dtype = Dtype::f32) {
  return tensor_rank1(std::vector<double>(values.begin(), values.end()), dtype);
}
/// A rank-2 tensor from nested lists; every row must have the same length.
template <class = void>
Tensor tensor(List2 values, Dtype dtype = Dtype::f32) {
  return tensor_rank2(values, dtype);
}
/// A rank-3 tensor from nested lists.
Tensor tensor(List3 values, Dtype dtype = Dtype::f32);
/// A tensor of `shape` from row-major `values` (size must equal the shape's element count).
Tensor from_vector(const std::vector<double>& values, const Shape& shape, Dtype dtype = Dtype::f32);
/// A tensor of `shape` from row-major float `values`.
Tensor from_vector(const std::vector<float>& values, const Shape& shape, Dtype dtype = Dtype::f32);
/// A tensor of `shape` from row-major integer `values` (indices, labels): int64 unless `dtype` says otherwise.
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape, Dtype dtype = Dtype::i64);
/// Uninitialised tensor of `shape` (for kernels that overwrite every element).
Tensor empty(const Shape& shape, Dtype dtype = Dtype::f32);
/// All zeros.
Tensor zeros(const Shape& shape, Dtype dtype = Dtype::f32);
/// All ones.
Tensor ones(const Shape& shape, Dtype dtype = Dtype::f32);
/// Every element equal to `value`.
Tensor full(const Shape& shape, double value, Dtype dtype = Dtype::f32);
/// Zeros with `like`'s shape and dtype.
Tensor zeros_like(const Tensor& like);

}  // namespace tapegrad
