#include "tapegrad/core/shape.h"

#include <string>

namespace tapegrad {

std::string Shape::str() const {
  std::string s = "[";
  for (size_t i = 0; i < size_; ++i) {
    if (i) s += ", ";
    s += std::to_string(data()[i]);
  }
  return s + "]";
}

}  // namespace tapegrad
