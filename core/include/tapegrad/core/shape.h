#pragma once
/// \file shape.h
/// The dimensions of a tensor.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

namespace tapegrad {

/// Sizes of a tensor's dimensions, outermost first. Up to four dimensions are stored inline
/// so that creating a tensor on the hot path allocates no heap memory; any rank is allowed.
class Shape {
 public:
  /// Rank-0 (scalar) shape.
  Shape() = default;
  /// Shape from a list of sizes, e.g. `{2, 3}`.
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  /// Shape from a vector of sizes.
  Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }  // NOLINT: implicit by design
  /// A shape of `rank` dimensions, each of size `fill`.
  static Shape filled(size_t rank, int64_t fill) {
    Shape s;
    s.resize(rank);
    std::fill(s.data(), s.data() + rank, fill);
    return s;
  }
  /// Copies a shape.
  Shape(const Shape& o) { assign(o.begin(), o.end()); }
  /// Copies a shape.
  Shape& operator=(const Shape& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  ~Shape() { release(); }

  /// Number of dimensions.
  size_t size() const { return size_; }
  /// True for rank 0.
  bool empty() const { return size_ == 0; }
  /// Size of dimension `i`.
  int64_t operator[](size_t i) const { return data()[i]; }
  /// Mutable size of dimension `i`.
  int64_t& operator[](size_t i) { return data()[i]; }
  /// First dimension size.
  const int64_t* begin() const { return data(); }
  /// One past the last dimension size.
  const int64_t* end() const { return data() + size_; }
  /// Pointer to the sizes.
  const int64_t* data() const { return heap_ ? heap_ : inline_; }
  /// Mutable pointer to the sizes.
  int64_t* data() { return heap_ ? heap_ : inline_; }
  /// Last dimension size (the shape must not be empty).
  int64_t back() const { return data()[size_ - 1]; }
  /// Appends a dimension.
  void push_back(int64_t d) {
    std::vector<int64_t> v(begin(), end());
    v.push_back(d);
    assign(v.begin(), v.end());
  }
  /// Product of the sizes, checked: throws tg::Error naming `op` and the shape if a size is
  /// negative or the product overflows int64 (where a shape comes from outside the library).
  int64_t checked_numel(const char* op) const {
    int64_t n = 1;
    for (size_t i = 0; i < size_; ++i)
      if (data()[i] < 0 || __builtin_mul_overflow(n, data()[i], &n)) [[unlikely]]
        throw_bad_size(op);
    return n;
  }
  /// Product of the sizes (1 for rank 0), unchecked: for shapes already validated.
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : *this) n *= d;
    return n;
  }
  /// The sizes as a vector.
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  /// Text such as "[2, 3]".
  std::string str() const;

  /// Equal when rank and every size agree.
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.size_ != b.size_) return false;
    for (size_t i = 0; i < a.size_; ++i)  // ranks are small: a loop beats a call to memcmp
      if (a.data()[i] != b.data()[i]) return false;
    return true;
  }
  /// Prints as "[2, 3]".
  friend std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

 private:
  [[noreturn]] void throw_bad_size(const char* op) const;
  static constexpr size_t kInline = 4;
  template <class It>
  void assign(It first, It last) {
    size_t n = static_cast<size_t>(std::distance(first, last));
    release();
    if (n > kInline) heap_ = new int64_t[n];
    size_ = n;
    std::copy(first, last, data());
  }
  void resize(size_t n) {
    release();
    if (n > kInline) heap_ = new int64_t[n];
    size_ = n;
  }
  void release() {
    delete[] heap_;
    heap_ = nullptr;
    size_ = 0;
  }
  int64_t inline_[kInline] = {};
  int64_t* heap_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tapegrad
