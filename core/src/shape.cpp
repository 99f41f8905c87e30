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

void Shape::throw_bad_size(const char* op) const {
  for (size_t i = 0; i < size_; ++i)
    if (data()[i] < 0)
      throw Error(std::string(op) + ": negative size " + std::to_string(data()[i]) + " in shape " + str());
  throw Error(std::string(op) + ": shape " + str() + " has more elements than a 64-bit count holds");
}

}  // namespace tapegrad
