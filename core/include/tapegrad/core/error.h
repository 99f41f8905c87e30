#pragma once
/// \file error.h
/// The one exception type the library throws.
#include <stdexcept>
#include <string>

namespace tapegrad {

/// Thrown for every misuse the library detects: shape, dtype and axis errors, backward
/// misuse, malformed files. The message names the op (or file) and what was expected.
class Error : public std::runtime_error {
 public:
  /// Builds an error carrying `message`.
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace tapegrad
