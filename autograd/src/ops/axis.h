#pragma once
// Private to the op files that reduce over one axis (ops/reduce.cpp, ops/statistics.cpp): their
// arguments and their sample inputs.
#include <vector>

#include "ops/loops.h"

namespace tapegrad::detail {

// The reduced axis, canonicalised by the forward (a negative axis counts from the end).
struct AxisArgs {
  int64_t axis;
  bool keepdim;
};

// True if `r` is `s` reduced over `axis` (kept as size 1 with keepdim): reduced_shape(s, axis,
// keepdim) == r without building it, for the shape checks of the backward ops, which run in
// every plain backward.
inline bool is_reduced_shape(const Shape& r, const Shape& s, size_t axis, bool keepdim) {
  if (s.size() == 0 || r.size() != s.size() - (keepdim ? 0 : 1)) return false;
  for (size_t d = 0, k = 0; d < s.size(); ++d) {
    if (d != axis) {
      if (r[k++] != s[d]) return false;
    } else if (keepdim && r[k++] != 1) {
      return false;
    }
  }
  return true;
}

// A matrix and a 3-D tensor, for reductions over any of their axes.
inline SampleInputs reduce_inputs() {
  return [](Dtype d, Generator& g) {
    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}, {{samples::normal({2, 3, 2}, d, g)}, "3-D"}};
  };
}

}  // namespace tapegrad::detail
