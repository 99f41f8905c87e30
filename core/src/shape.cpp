#include "tapegrad/core/shape.h"

#include <string>

#include "tapegrad/core/error.h"

namespace tapegrad {

std::string Shape::str() const {
  std::string s = "[";
  for (size_t i = 0; i < size_; ++i) {
    if (i) s += ", ";
    s += std::to_string(data()[i]);
  }
  return s + "]";
}

int64_t Shape::checked_numel(const char* op) const {
  int64_t n = 1;
  for (size_t i = 0; i < size_; ++i) {
    const int64_t d = data()[i];
    if (d < 0) throw Error(std::string(op) + ": negative size " + std::to_string(d) + " in shape " + str());
    if (__builtin_mul_overflow(n, d, &n))
      throw Error(std::string(op) + ": shape " + str() + " has more elements than a 64-bit count holds");
  }
  return n;
}

}  // namespace tapegrad
