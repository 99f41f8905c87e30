#pragma once
/// \file dtype.h
/// Element types a tensor can hold.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace tapegrad {

/// Element type of a tensor: 32- or 64-bit IEEE floating point, 64-bit integers (i64: indices and
/// labels, as PyTorch's int64), or bfloat16 (bf16: float32's exponent with 8 bits of significand,
/// for storage and for the products of tg::AutocastGuard). The ops that compute take float32 and
/// float64; int64 and bfloat16 tensors are converted with Tensor::to first.
enum class Dtype : uint8_t { f32, f64, i64, bf16 };

/// Bytes per element of `d`.
constexpr size_t dtype_size(Dtype d) { return d == Dtype::f32 ? 4 : d == Dtype::bf16 ? 2 : 8; }

/// "float32", "float64", "int64" or "bfloat16".
constexpr std::string_view dtype_name(Dtype d) {
  return d == Dtype::f32 ? "float32" : d == Dtype::f64 ? "float64" : d == Dtype::i64 ? "int64" : "bfloat16";
}

/// True for float32 and float64: the dtypes that compute and carry gradients.
constexpr bool is_floating(Dtype d) { return d == Dtype::f32 || d == Dtype::f64; }

/// One bfloat16 value: the upper 16 bits of a float32. Conversions from float and double round to
/// nearest, ties to even (a NaN stays a NaN, quiet); the conversion to float is exact.
struct bfloat16 {
  uint16_t bits = 0;  ///< sign, 8 exponent bits, 7 significand bits

  bfloat16() = default;
  /// `v` rounded to nearest, ties to even.
  explicit bfloat16(float v) : bits(round(v)) {}
  /// `v` rounded to nearest, ties to even, in one rounding (not through float, which could round twice).
  explicit bfloat16(double v) : bits(round(to_odd_float(v))) {}
  /// The value, exactly.
  explicit operator float() const { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }
  /// The value, exactly.
  explicit operator double() const { return static_cast<double>(static_cast<float>(*this)); }

  /// The bits of `v` rounded to bfloat16, to nearest, ties to even. (Branch-free, so that a loop
  /// of it vectorizes.)
  static constexpr uint16_t round(float v) {
    const uint32_t u = std::bit_cast<uint32_t>(v);
    const uint32_t nearest = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x40u;  // a NaN stays one (rounding could carry it to infinity)
    return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : nearest);
  }
  /// `v` as a float rounded to odd: correct for a second rounding to a format of fewer bits.
  static float to_odd_float(double v) {
    float f = static_cast<float>(v);
    if (static_cast<double>(f) == v || std::isnan(v) || (std::bit_cast<uint32_t>(f) & 1u)) return f;
    return std::nextafter(f, static_cast<double>(f) < v ? INFINITY : -INFINITY);  // the odd neighbour
  }
};

/// The dtype of C++ type `T` (float, double, int64_t or tg::bfloat16).
template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int64_t> ||
                    std::is_same_v<T, bfloat16>,
                "tapegrad tensors hold float, double, int64_t or tg::bfloat16");
  return std::is_same_v<T, float>    ? Dtype::f32
         : std::is_same_v<T, double> ? Dtype::f64
         : std::is_same_v<T, bfloat16> ? Dtype::bf16
                                       : Dtype::i64;
}

}  // namespace tapegrad
