#pragma once
// Private to the op files that reduce over one axis (ops/reduce.cpp, ops/statistics.cpp): their
// arguments and their sample inputs.
#include <vector>

#include "kernels.h"

namespace tapegrad::detail {

// The reduced axis, canonicalised by the forward (a negative axis counts from the end).
struct AxisArgs {
  int64_t axis;
  bool keepdim;
};

// A matrix and a 3-D tensor, for reductions over any of their axes.
inline SampleInputs reduce_inputs() {
  return [](Dtype d, Generator& g) {
    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}, {{samples::normal({2, 3, 2}, d, g)}, "3-D"}};
  };
}

}  // namespace tapegrad::detail
