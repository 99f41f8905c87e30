#pragma once
// Private: the checks every op makes of its inputs (defined, one dtype, shapes that broadcast, an
// axis in range), each throwing a tg::Error that names the op and what came.
#include <cstdint>
#include <string>

#include "tapegrad/core/error.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad::detail {

// Throws unless `a` and `b` share a dtype.
inline void same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw Error(std::string(op) + ": dtypes differ: " + a.shape().str() + " " + std::string(dtype_name(a.dtype())) +
                " and " + b.shape().str() + " " + std::string(dtype_name(b.dtype())) +
                " (convert one with to(Dtype))");
}

// Throws if `t` is undefined.
inline void defined(const char* op, const Tensor& t) {
  if (!t.defined()) throw Error(std::string(op) + ": an input tensor is undefined (default-constructed)");
}

// NumPy broadcasting of two shapes; throws naming `op` when they are incompatible.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Normalises a possibly negative axis for a tensor of rank `rank`.
size_t normalize_axis(const char* op, int64_t axis, const Shape& shape);

}  // namespace tapegrad::detail
