#pragma once
/// \file dtype.h
/// Element types a tensor can hold.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace tapegrad {

/// Element type of a tensor: 32- or 64-bit IEEE floating point, or 64-bit integers (i64: indices
/// and labels, as PyTorch's int64; the ops that compute take float32 and float64 only).
enum class Dtype : uint8_t { f32, f64, i64 };

/// Bytes per element of `d`.
constexpr size_t dtype_size(Dtype d) { return d == Dtype::f32 ? 4 : 8; }

/// "float32", "float64" or "int64".
constexpr std::string_view dtype_name(Dtype d) {
  return d == Dtype::f32 ? "float32" : d == Dtype::f64 ? "float64" : "int64";
}

/// True for float32 and float64: the dtypes that compute and carry gradients.
constexpr bool is_floating(Dtype d) { return d != Dtype::i64; }

/// The dtype of C++ type `T` (float, double or int64_t).
template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int64_t>,
                "tapegrad tensors hold float, double or int64_t");
  return std::is_same_v<T, float> ? Dtype::f32 : std::is_same_v<T, double> ? Dtype::f64 : Dtype::i64;
}

}  // namespace tapegrad
