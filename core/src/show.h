#pragma once
// Private: numbers in error messages (the optimizers', the ops').
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tapegrad::detail {

// The shortest of %.15g and %.17g that reads back as `v`: -0.1, not -0.10000000000000001 (nor
// std::to_string's -0.100000).
inline std::string show_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace tapegrad::detail
