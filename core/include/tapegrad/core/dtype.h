#pragma once
/// \file dtype.h
/// Element types a tensor can hold.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace tapegrad {

/// Element type of a tensor: 32- or 64-bit IEEE floating point.
enum class Dtype : uint8_t { f32, f64 };

/// Bytes per element of `d`.
constexpr size_t dtype_size(Dtype d) { return d == Dtype::f32 ? 4 : 8; }

/// "float32" or "float64".
constexpr std::string_view dtype_name(Dtype d) { return d == Dtype::f32 ? "float32" : "float64"; }

/// The dtype of C++ type `T` (float or double).
template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "tapegrad tensors hold float or double");
  return std::is_same_v<T, float> ? Dtype::f32 : Dtype::f64;
}

}  // namespace tapegrad
