#pragma once
// Private: the checks every op makes of its inputs (defined, one dtype, shapes that broadcast, an
// axis in range), each throwing a tg::Error that names the op and what came.
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/core/error.h"
#include "tapegrad/core/tensor.h"
#include "tensor_impl.h"

namespace tapegrad::detail {

[[noreturn]] void throw_dtypes_differ(const char* op, const Tensor& a, const Tensor& b);
// Throws unless `a` and `b` (defined) share a dtype. Inline, on every binary op's path: the
// dtypes are read from the TensorImpls and the message is built out of line.
inline void same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (impl_of(a)->dtype != impl_of(b)->dtype) [[unlikely]]
    throw_dtypes_differ(op, a, b);
}

// Throws if `t` is undefined.
inline void defined(const char* op, const Tensor& t) {
  if (!t.defined()) throw Error(std::string(op) + ": an input tensor is undefined (default-constructed)");
}

// The values of `indices`, which must be a rank-1 int64 tensor (ops/index.cpp).
std::vector<int64_t> indices_of(const char* op, const Tensor& indices);

// NumPy broadcasting of two shapes; throws naming `op` when they are incompatible.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Normalises a possibly negative axis for a tensor of rank `rank`.
size_t normalize_axis(const char* op, int64_t axis, const Shape& shape);

}  // namespace tapegrad::detail
